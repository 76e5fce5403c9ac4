//! A full disk: the shop answers 503 (never 500, never a hang), readiness says the storage
//! cannot be written, and once space is freed it recovers by itself, without a restart and
//! without losing an accepted order. The data directory is on a small tmpfs the test mounts
//! (which needs root, as the CI runs).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use tracemart_platform::ServiceName;

use crate::helpers::{DEADLINE, Options, Shop, order_body};

/// A tmpfs mounted for the test; unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs needs root (CAP_SYS_ADMIN): {status}"
        );
        Tmpfs(dir.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes zeros to `path` until the file system is full.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).expect("create filler");
    let chunk = vec![0u8; 256 << 10];
    while file.write_all(&chunk).and_then(|()| file.flush()).is_ok() {}
    let _ = file.sync_all();
}

async fn readiness(shop: &Shop, s: ServiceName) -> (u16, String) {
    let answer = shop.get(s, "/health/ready").await;
    (
        answer.status,
        answer.body["reason"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[tokio::test]
async fn a_full_disk_is_answered_503_and_reported_and_the_shop_recovers_once_space_is_freed() {
    let mount_point = tempfile::tempdir().unwrap();
    let _tmpfs = Tmpfs::mount(mount_point.path(), "48m");
    let shop = Shop::up_with(Options {
        export: false,
        data_in: Some(mount_point.path().to_owned()),
        ..Options::default()
    })
    .await;
    let pids: Vec<Option<i32>> = ServiceName::ALL
        .iter()
        .map(|s| shop.service_pid(*s))
        .collect();
    let before = shop.post_order(&order_body(3, &[(5, 1)])).await;
    assert_eq!(before.status, 201, "{}", before.body);

    let filler = mount_point.path().join("filler");
    fill(&filler);
    // Orders fail once the databases need space they cannot get: 503, never 500.
    let mut refused = None;
    for i in 0..400 {
        let answer = shop.post_order(&order_body(3, &[(5, 1)])).await;
        assert!(
            matches!(answer.status, 201 | 503),
            "order {i} on a full disk: {} {}",
            answer.status,
            answer.body
        );
        if answer.status == 503 {
            refused = Some(answer.body);
            break;
        }
    }
    assert!(refused.is_some(), "400 orders fit on a full disk");
    // Writes keep coming (a full disk may leave room for one now and then): each failed one
    // makes its service unready for a while.
    let unready =
        tracemart_testkit::eventually(DEADLINE, "a service to report its storage", || async {
            let _ = shop.post_order(&order_body(3, &[(5, 1)])).await;
            for s in [ServiceName::Order, ServiceName::Inventory] {
                let (status, reason) = readiness(&shop, s).await;
                if status == 503 {
                    return Some(reason);
                }
            }
            None
        })
        .await;
    assert!(unready.contains("cannot be written"), "{unready}");

    std::fs::remove_file(&filler).unwrap();

    let after = tracemart_testkit::eventually(DEADLINE, "an order once space is back", || async {
        let answer = shop.post_order(&order_body(4, &[(6, 1)])).await;
        (answer.status == 201).then_some(answer.body)
    })
    .await;
    for s in ServiceName::ALL {
        tracemart_testkit::eventually(DEADLINE, &format!("{s} ready again"), || async {
            (readiness(&shop, s).await.0 == 200).then_some(())
        })
        .await;
    }
    for order in [&before.body, &after] {
        let id = order["order_id"].as_str().unwrap();
        let settled = tracemart_testkit::eventually(DEADLINE, "the order to settle", || async {
            let got = shop.get(ServiceName::Order, &format!("/orders/{id}")).await;
            (got.status == 200 && got.body["status"] != "created").then_some(got.body)
        })
        .await;
        assert_eq!(settled["status"], "confirmed", "{settled}");
    }
    let pids_after: Vec<Option<i32>> = ServiceName::ALL
        .iter()
        .map(|s| shop.service_pid(*s))
        .collect();
    assert_eq!(pids_after, pids, "recovered without a restart");
    drop(shop);
}
