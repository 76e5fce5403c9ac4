//! Exit codes a script can rely on: 0 done, 1 below `--fail-under`, 2 bad input.

use tracemart_assess::{AssessArgs, Points, ReportFormat};

use crate::helpers::{args, run, toml_body, write};

#[test]
fn fail_under_exits_1_below_the_threshold_and_0_at_or_above_it() {
    let dir = tempfile::tempdir().unwrap();
    // 60.0 exactly.
    let file = write(
        dir.path(),
        "a.toml",
        &toml_body([2, 3, 1, 2, 5, 4, 5, 2, 4, 1, 4]),
    );
    let cases = [("60", 0), ("60.1", 1), ("59.9", 0), ("100", 1), ("0", 0)];
    for (threshold, code) in cases {
        let outcome = run(AssessArgs {
            fail_under: Some(Points::parse(threshold).unwrap()),
            ..args(&file, ReportFormat::Text)
        });
        assert_eq!(outcome.code, code, "--fail-under {threshold}: {outcome:?}");
        // The report is printed either way.
        assert!(outcome.stdout.contains("Total: 60.0 / 100"));
        if code == 1 {
            assert!(outcome.stderr.contains("below --fail-under"), "{outcome:?}");
        }
    }
}

#[test]
fn without_answers_and_without_a_terminal_it_says_to_use_answers_and_exits_2() {
    let outcome = run(AssessArgs::default());
    assert_eq!(outcome.code, 2);
    assert!(outcome.stderr.contains("--answers FILE"), "{outcome:?}");
    assert!(outcome.stdout.is_empty());
}

#[derive(clap::Parser, Debug)]
struct Cli {
    #[command(flatten)]
    args: AssessArgs,
}

#[test]
fn flags_parse_and_reject_thresholds_outside_0_to_100() {
    use clap::Parser;
    let cli = Cli::try_parse_from([
        "assess",
        "--answers",
        "a.toml",
        "--format",
        "markdown",
        "--lang",
        "ko",
        "--fail-under",
        "72.5",
        "--history",
        "h",
    ])
    .unwrap();
    assert_eq!(cli.args.fail_under, Some(Points::from_tenths(725)));
    assert_eq!(cli.args.format, ReportFormat::Markdown);
    for bad in ["101", "-1", "sixty", "60.25"] {
        let error = Cli::try_parse_from(["assess", "--fail-under", bad]).unwrap_err();
        assert_eq!(error.exit_code(), 2, "{bad}");
    }
    assert!(Cli::try_parse_from(["assess", "--lang", "fr"]).is_err());
}
