//! Bad answers files: a clear message naming the file, the item and the allowed values; exit code
//! 2; nothing printed on standard output and nothing written to the history.

use tracemart_assess::{AssessArgs, ReportFormat};

use crate::helpers::{args, run, toml_body, write};

struct Case {
    name: &'static str,
    file: &'static str,
    body: String,
    expected: &'static [&'static str],
}

fn cases() -> Vec<Case> {
    let full = toml_body([3; 11]);
    vec![
        Case {
            name: "a missing item",
            file: "answers.toml",
            body: full.replace("training = 3\n", ""),
            expected: &["answers.toml", "missing item `training`", "1 to 5"],
        },
        Case {
            name: "several missing items in YAML",
            file: "answers.yaml",
            body: "containers: 3\ncicd: 4\n".into(),
            expected: &[
                "answers.yaml",
                "missing items `observability`, `api_design`",
            ],
        },
        Case {
            name: "an unknown item",
            file: "answers.toml",
            body: format!("{full}kubernetes = 4\n"),
            expected: &[
                "unknown item `kubernetes`",
                "containers, cicd, observability",
            ],
        },
        Case {
            name: "a score above 5",
            file: "answers.json",
            body: format!("{{{}}}", json_pairs().replace("\"cicd\": 3", "\"cicd\": 6")),
            expected: &["answers.json", "item `cicd` has 6", "1, 2, 3, 4 and 5"],
        },
        Case {
            name: "a score of 0",
            file: "answers.toml",
            body: full.replace("on_call = 3", "on_call = 0"),
            expected: &["item `on_call` has 0", "1, 2, 3, 4 and 5"],
        },
        Case {
            name: "a fractional score",
            file: "answers.toml",
            body: full.replace("training = 3", "training = 3.5"),
            expected: &["item `training` has 3.5", "whole numbers"],
        },
        Case {
            name: "a score written as a string",
            file: "answers.yml",
            body: full.replace(" = ", ": ").replace("cicd: 3", "cicd: \"3\""),
            expected: &["answers.yml", "item `cicd` has the string \"3\""],
        },
        Case {
            name: "an item answered twice",
            file: "answers.json",
            body: format!("{{{}, \"cicd\": 4}}", json_pairs()),
            expected: &["item `cicd` is answered more than once"],
        },
        Case {
            name: "malformed TOML",
            file: "answers.toml",
            body: "containers = \n".into(),
            expected: &["answers.toml", "malformed TOML"],
        },
        Case {
            name: "malformed JSON",
            file: "answers.json",
            body: "{\"containers\": 3,".into(),
            expected: &["answers.json", "malformed JSON"],
        },
        Case {
            name: "a list instead of a map",
            file: "answers.json",
            body: "[3, 3, 3]".into(),
            expected: &["malformed JSON", "a flat map from item id to a score"],
        },
        Case {
            name: "nested tables",
            file: "answers.toml",
            body: format!("[answers]\n{full}"),
            expected: &["unknown item `answers`", "missing items `containers`"],
        },
        Case {
            name: "an unsupported extension",
            file: "answers.txt",
            body: full.clone(),
            expected: &["answers.txt", ".toml, .yaml, .yml or .json"],
        },
    ]
}

fn json_pairs() -> String {
    tracemart_assess::item_ids()
        .map(|id| format!("\"{id}\": 3"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn every_bad_answers_file_is_rejected_with_exit_2_and_a_message_naming_the_problem() {
    for case in cases() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), case.file, &case.body);
        let history = dir.path().join("history");
        let outcome = run(AssessArgs {
            history: Some(history.clone()),
            ..args(&file, ReportFormat::Json)
        });
        assert_eq!(outcome.code, 2, "{}: {outcome:?}", case.name);
        assert!(outcome.stdout.is_empty(), "{}: {outcome:?}", case.name);
        for expected in case.expected {
            assert!(
                outcome.stderr.contains(expected),
                "{}: expected {expected:?} in {:?}",
                case.name,
                outcome.stderr
            );
        }
        assert!(!history.exists(), "{}: history written", case.name);
    }
}

#[test]
fn a_missing_answers_file_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = run(args(&dir.path().join("nowhere.toml"), ReportFormat::Text));
    assert_eq!(outcome.code, 2);
    assert!(
        outcome.stderr.contains("nowhere.toml: cannot read"),
        "{outcome:?}"
    );
}

#[test]
fn the_same_answers_are_accepted_in_toml_yaml_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let toml = toml_body([4; 11]);
    let bodies = [
        ("a.toml", toml.clone()),
        ("a.yaml", toml.replace(" = ", ": ")),
        ("a.yml", toml.replace(" = ", ": ")),
        (
            "a.json",
            format!("{{{}}}", json_pairs().replace(": 3", ": 4")),
        ),
    ];
    for (name, body) in bodies {
        let outcome = run(args(&write(dir.path(), name, &body), ReportFormat::Json));
        assert_eq!(outcome.code, 0, "{name}: {outcome:?}");
        assert!(outcome.stdout.contains("\"total\": 80.0"), "{name}");
    }
}
