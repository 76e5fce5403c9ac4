//! `--history DIR`: dated JSON results and the change since the previous one.

use tracemart_assess::{AssessArgs, ReportFormat};

use crate::helpers::{args, at, run_at, toml_body, write};

fn with_history(file: &std::path::Path, dir: &std::path::Path, format: ReportFormat) -> AssessArgs {
    AssessArgs {
        history: Some(dir.to_owned()),
        ..args(file, format)
    }
}

#[test]
fn the_first_result_is_saved_as_a_dated_json_file_and_says_it_is_the_first() {
    let tmp = tempfile::tempdir().unwrap();
    let history = tmp.path().join("assessments");
    let file = write(tmp.path(), "a.toml", &toml_body([3; 11]));

    let outcome = run_at(with_history(&file, &history, ReportFormat::Text), at(1));

    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert!(outcome.stdout.contains("first assessment"));
    let saved = history.join("assessment-2026-11-01T093000Z.json");
    assert!(outcome.stderr.contains(&saved.display().to_string()));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(saved).unwrap()).unwrap();
    assert_eq!(json["total"], 60.0);
    assert_eq!(json["change"], serde_json::Value::Null);
}

#[test]
fn the_next_result_shows_the_change_per_category_and_total_since_the_newest_one() {
    let tmp = tempfile::tempdir().unwrap();
    let history = tmp.path().join("h");
    let first = write(tmp.path(), "first.toml", &toml_body([3; 11]));
    let second = write(tmp.path(), "second.toml", &toml_body([1; 11]));
    let third = write(
        tmp.path(),
        "third.toml",
        &toml_body([5, 3, 3, 3, 3, 3, 3, 1, 3, 3, 4]),
    );
    run_at(with_history(&first, &history, ReportFormat::Text), at(1));
    run_at(with_history(&second, &history, ReportFormat::Text), at(2));

    // Against the 2nd (all ones, 20.0), not the 1st.
    let outcome = run_at(with_history(&third, &history, ReportFormat::Json), at(3));

    assert_eq!(outcome.code, 0, "{outcome:?}");
    let json: serde_json::Value = serde_json::from_str(&outcome.stdout).unwrap();
    let change = &json["change"];
    assert_eq!(change["since"], "2026-11-02T09:30:00Z");
    assert_eq!(change["previous_total"], 20.0);
    assert_eq!(json["total"], 62.6);
    assert_eq!(change["total"], 42.6);
    assert_eq!(change["categories"]["technical"], 20.0);
    assert_eq!(change["categories"]["organisational"], 11.2);
    assert_eq!(change["categories"]["business"], 11.4);
    assert_eq!(change["items"][0]["id"], "containers");
    assert_eq!(change["items"][0]["from"], 1);
    assert_eq!(change["items"][0]["to"], 5);
    let files = std::fs::read_dir(&history).unwrap().count();
    assert_eq!(files, 3);
}

#[test]
fn the_text_report_shows_the_change_with_signs() {
    let tmp = tempfile::tempdir().unwrap();
    let history = tmp.path().join("h");
    let before = write(tmp.path(), "before.toml", &toml_body([3; 11]));
    let after = write(
        tmp.path(),
        "after.toml",
        &toml_body([3, 5, 3, 3, 3, 3, 3, 3, 3, 3, 2]),
    );
    run_at(with_history(&before, &history, ReportFormat::Text), at(1));

    let outcome = run_at(with_history(&after, &history, ReportFormat::Text), at(8));

    let text = outcome.stdout;
    assert!(
        text.contains(
            "Since the last assessment (2026-11-01 09:30 UTC): Total +2.6 (60.0 -> 62.6)"
        ),
        "{text}"
    );
    assert!(text.contains("Technical readiness"));
    assert!(text.contains("+4.0"));
    assert!(text.contains("-1.4"));
    assert!(text.contains("CI/CD pipeline maturity"));
}

#[test]
fn two_results_in_the_same_second_never_overwrite_each_other() {
    let tmp = tempfile::tempdir().unwrap();
    let history = tmp.path().join("h");
    let file = write(tmp.path(), "a.toml", &toml_body([4; 11]));
    run_at(with_history(&file, &history, ReportFormat::Text), at(1));
    run_at(with_history(&file, &history, ReportFormat::Text), at(1));
    assert!(history.join("assessment-2026-11-01T093000Z.json").exists());
    assert!(
        history
            .join("assessment-2026-11-01T093000Z-2.json")
            .exists()
    );
}

#[test]
fn an_unreadable_history_file_is_skipped_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let history = tmp.path().join("h");
    std::fs::create_dir(&history).unwrap();
    write(&history, "assessment-2026-10-01T000000Z.json", "not json");
    let file = write(tmp.path(), "a.toml", &toml_body([4; 11]));

    let outcome = run_at(with_history(&file, &history, ReportFormat::Text), at(1));

    assert_eq!(outcome.code, 0);
    assert!(outcome.stderr.contains("warning"), "{outcome:?}");
    assert!(outcome.stdout.contains("first assessment"));
}

#[test]
fn a_history_path_that_is_a_file_is_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let not_a_dir = write(tmp.path(), "plain-file", "");
    let file = write(tmp.path(), "a.toml", &toml_body([4; 11]));
    let outcome = run_at(with_history(&file, &not_a_dir, ReportFormat::Text), at(1));
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(outcome.stderr.contains("plain-file"));
}
