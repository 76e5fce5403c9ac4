//! The three report formats: JSON against its schema, a markdown snapshot, and the text report's
//! bars, with colour only on a terminal without NO_COLOR.

use tracemart_assess::{Answers, Assessment, Environment, Lang, Report, ReportFormat, run_with};

use crate::helpers::{answers, args, at, run, toml_body, write};

const MIXED: [u8; 11] = [4, 3, 5, 3, 3, 2, 3, 3, 4, 3, 2];

fn report(answers: Answers, lang: Lang, format: ReportFormat, color: bool) -> String {
    let assessment = Assessment::score(answers);
    Report {
        assessment: &assessment,
        lang,
        assessed_at: at(1),
        change: None,
        with_history: false,
        color,
    }
    .render(format)
}

fn validator() -> jsonschema::Validator {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schema/assessment.schema.json")).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn assert_valid(json: &serde_json::Value) {
    let errors: Vec<String> = validator()
        .iter_errors(json)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{json:#}");
}

#[test]
fn the_json_report_matches_its_schema_in_both_languages_and_at_the_extremes() {
    for scores in [MIXED, [5; 11], [1; 11]] {
        for lang in [Lang::En, Lang::Ko] {
            let text = report(answers(scores), lang, ReportFormat::Json, false);
            assert_valid(&serde_json::from_str(&text).unwrap());
        }
    }
}

#[test]
fn the_json_report_has_the_total_each_categorys_points_and_the_verdict() {
    let json: serde_json::Value =
        serde_json::from_str(&report(answers(MIXED), Lang::En, ReportFormat::Json, false)).unwrap();
    assert_eq!(json["total"], 64.6);
    assert_eq!(json["categories"]["technical"]["points"], 30.0);
    assert_eq!(json["categories"]["organisational"]["points"], 19.0);
    assert_eq!(json["categories"]["business"]["points"], 15.6);
    assert_eq!(
        json["categories"]["organisational"]["items"][3]["points"],
        4.2
    );
    assert_eq!(json["verdict"]["id"], "adopt_after_shoring_up");
    assert_eq!(json["plan"]["id"], "platform_team_and_training");
    assert_eq!(json["answers"]["operating_cost"], 2);
    assert_eq!(json["top_losses"][0]["id"], "devops_culture");
    assert_eq!(json["assessed_at"], "2026-11-01T09:30:00Z");
}

#[test]
fn the_markdown_report_in_english() {
    insta::assert_snapshot!(report(
        answers(MIXED),
        Lang::En,
        ReportFormat::Markdown,
        false
    ));
}

#[test]
fn the_markdown_report_in_korean_uses_the_seeds_wording() {
    insta::assert_snapshot!(report(
        answers(MIXED),
        Lang::Ko,
        ReportFormat::Markdown,
        false
    ));
}

#[test]
fn the_text_report_has_a_bar_per_category_and_the_five_point_level_of_each_costly_item() {
    let text = report(answers(MIXED), Lang::En, ReportFormat::Text, false);
    insta::assert_snapshot!(text);
    assert!(!text.contains('\u{1b}'), "no escape codes without colour");
}

#[test]
fn the_text_report_is_coloured_only_on_a_terminal_without_no_color() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "a.toml", &toml_body(MIXED));
    let cases = [
        (true, false, true),
        (true, true, false),
        (false, false, false),
    ];
    for (stdout_is_terminal, no_color, coloured) in cases {
        let env = Environment {
            locale: None,
            no_color,
            stdin_is_terminal: false,
            stdout_is_terminal,
            now: at(1),
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run_with(args(&file, ReportFormat::Text), &env, &mut out, &mut err);
        assert_eq!(code, 0);
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out.contains('\u{1b}'),
            coloured,
            "terminal={stdout_is_terminal} NO_COLOR={no_color}"
        );
        assert!(out.contains('█'), "the bars are drawn either way");
    }
}

#[test]
fn the_language_defaults_to_the_locale() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "a.toml", &toml_body(MIXED));
    for (locale, expected) in [(Some("ko_KR.UTF-8"), "총점: 64.6"), (None, "Total: 64.6")] {
        let env = Environment {
            locale: locale.map(str::to_owned),
            no_color: true,
            stdin_is_terminal: false,
            stdout_is_terminal: false,
            now: at(1),
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let args = tracemart_assess::AssessArgs {
            lang: None,
            ..args(&file, ReportFormat::Text)
        };
        assert_eq!(run_with(args, &env, &mut out, &mut err), 0);
        assert!(
            String::from_utf8(out).unwrap().contains(expected),
            "{locale:?}"
        );
    }
}

#[test]
fn the_cli_prints_the_chosen_format() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "a.toml", &toml_body(MIXED));
    let markdown = run(args(&file, ReportFormat::Markdown));
    assert!(
        markdown
            .stdout
            .starts_with("# Microservices readiness assessment")
    );
    let json = run(args(&file, ReportFormat::Json));
    assert_valid(&serde_json::from_str(&json.stdout).unwrap());
}
