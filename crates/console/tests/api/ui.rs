//! The embedded UI is served from the binary, and `/trace/{id}` opens the app.

use crate::helpers::*;

#[tokio::test]
async fn the_ui_and_its_assets_are_served() {
    let app = spawn_app().await;
    for (path, content_type) in [
        ("/", "text/html"),
        ("/trace/0af7651916cd43dd8448eb211c80319c", "text/html"),
        ("/app.js", "javascript"),
        ("/linked.js", "javascript"),
        ("/style.css", "text/css"),
    ] {
        let res = app
            .http
            .get(format!("{}{path}", app.ui))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.contains(content_type), "{path}: {ct}");
        if content_type == "text/html" {
            let html = res.text().await.unwrap();
            for id in [
                "search-form",
                "results",
                "waterfall",
                "linked-traces",
                "service-map",
            ] {
                assert!(
                    html.contains(&format!("data-testid=\"{id}\"")),
                    "{path} has {id}"
                );
            }
        }
    }
}

#[tokio::test]
async fn service_statistics_and_the_map_are_computed_from_spans() {
    let app = spawn_app().await;
    let start = now_ns() - 60_000_000_000;
    app.send_traces(&order_trace(0x1, start)).await;
    app.send_traces(&quick_trace(0x2, start + 1_000_000, "order", 3))
        .await;

    let (status, services) = app.get("/api/console/services?lookback=1h").await;
    assert_eq!(status, 200, "{services}");
    let order = services["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "order")
        .unwrap();
    assert_eq!(order["stats"]["count"], 2);
    assert_eq!(order["stats"]["errors"], 1);
    assert_eq!(order["stats"]["p99_ms"], 120.0);

    let (_, ops) = app
        .get("/api/console/services/order/operations?lookback=1h")
        .await;
    let create = ops["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["operation"] == "create_order")
        .unwrap();
    assert_eq!(create["stats"]["count"], 1);

    let (status, series) = app
        .get("/api/console/stats?service=order&lookback=1h&step=1m")
        .await;
    assert_eq!(status, 200, "{series}");
    let total: u64 = series["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["stats"]["count"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 2);

    let (_, map) = app.get("/api/console/map?lookback=1h").await;
    let edge = map["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["child"] == "inventory")
        .unwrap();
    assert_eq!(edge["parent"], "order");
    assert_eq!(edge["calls"], 1);
    assert_eq!(edge["error_ratio"], 1.0);
    assert_eq!(map["nodes"].as_array().unwrap().len(), 3);
}
