//! `tracemart assess` end to end, as the built binary: the interactive questionnaire in a real
//! pseudo-terminal (answer, go back, change, finish, in English and Korean; quitting writes
//! nothing), and the scriptable path (answers files, formats, history, exit codes 0/1/2).
//! Every step waits for the output it expects, with a deadline, never a fixed sleep.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Stdio};

use rexpect::process::WaitStatus;
use rexpect::session::{Options, PtySession, spawn_with_options};

/// The deadline for each expected screen.
const DEADLINE_MS: u64 = 20_000;

const UP: &str = "\x1b[A";
const DOWN: &str = "\x1b[B";
const LEFT: &str = "\x1b[D";
const ENTER: &str = "\r";
const BACKSPACE: &str = "\x7f";
const ESC: &str = "\x1b";
const CTRL_C: &str = "\x03";

/// `tracemart assess`.
fn command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tracemart"));
    command.arg("assess");
    command
}

/// A questionnaire running in a pseudo-terminal.
struct Pty {
    session: PtySession,
}

impl Pty {
    fn spawn(args: &[&str], lang: &str, no_color: bool) -> Self {
        let mut command = command();
        command
            .args(args)
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .env("LANG", lang)
            .env("TERM", "xterm-256color");
        if no_color {
            command.env("NO_COLOR", "1");
        } else {
            command.env_remove("NO_COLOR");
        }
        let options = Options::new()
            .timeout_ms(Some(DEADLINE_MS))
            .strip_ansi_escape_codes(true);
        Self {
            session: spawn_with_options(command, options).unwrap(),
        }
    }

    /// Waits, up to the deadline, until `text` appears after what was already matched.
    fn expect(&mut self, text: &str) {
        if let Err(error) = self.session.exp_string(&as_bytes_read(text)) {
            panic!("did not see {text:?}: {error}");
        }
    }

    fn press(&mut self, key: &str) {
        self.session.send(key).unwrap();
        self.session.flush().unwrap();
    }

    /// Waits for the program to end and returns the rest of its output and its exit code.
    fn finish(mut self) -> (String, i32) {
        let rest = from_bytes_read(&self.session.exp_eof().unwrap());
        match self.session.process().wait().unwrap() {
            WaitStatus::Exited(_, code) => (rest, code),
            other => panic!("unexpected end: {other:?}"),
        }
    }
}

/// rexpect reads the terminal byte by byte, one `char` per byte: UTF-8 text arrives that way.
fn as_bytes_read(text: &str) -> String {
    text.bytes().map(char::from).collect()
}

/// The inverse of [`as_bytes_read`].
fn from_bytes_read(read: &str) -> String {
    let bytes: Vec<u8> = read.chars().filter_map(|c| u8::try_from(c).ok()).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn history_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| entries.count())
}

#[test]
fn english_answer_all_go_back_change_and_finish() {
    let tmp = tempfile::tempdir().unwrap();
    let history = tmp.path().join("history");
    let history_arg = history.to_str().unwrap();
    let mut pty = Pty::spawn(
        &["--lang", "en", "--format", "json", "--history", history_arg],
        "C",
        false,
    );

    pty.expect("Question 1/11");
    pty.expect("Container / Kubernetes operations (10 points)");
    pty.expect("Run in production for over a year");
    pty.expect("Running total: 0.0 / 100 (answered 0/11)");
    pty.press("4");
    pty.expect("Question 2/11");
    pty.expect("Running total: 8.0 / 100 (answered 1/11)");
    // Up twice from the default 3 selects 5; Enter answers it.
    pty.press(UP);
    pty.expect("› 4");
    pty.press(UP);
    pty.expect("› 5");
    pty.press(ENTER);
    pty.expect("Question 3/11");
    pty.expect("Running total: 18.0 / 100 (answered 2/11)");
    // Back to question 2, which shows the answer given; change it to 4.
    pty.press(LEFT);
    pty.expect("Question 2/11");
    pty.expect("› 5");
    pty.press(DOWN);
    pty.expect("› 4");
    pty.press(ENTER);
    pty.expect("Question 3/11");
    pty.expect("Running total: 16.0 / 100 (answered 2/11)");
    for next in 4..=11 {
        pty.press("3");
        pty.expect(&format!("Question {next}/11"));
    }
    pty.press("3");
    pty.expect("All items answered");
    pty.expect("Running total: 64.0 / 100 (answered 11/11)");
    // From the review, back to the last question, and change it to 1.
    pty.press(LEFT);
    pty.expect("Question 11/11");
    pty.expect("Room for extra operating cost");
    pty.press("1");
    pty.expect("All items answered");
    pty.expect("Running total: 61.2 / 100");
    pty.press(ENTER);

    let (output, code) = pty.finish();
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("\"total\": 61.2"), "{output}");
    assert!(output.contains("\"cicd\": 4"), "{output}");
    assert!(output.contains("\"operating_cost\": 1"), "{output}");
    assert_eq!(history_files(&history), 1);
}

#[test]
fn korean_from_the_locale_with_b_and_backspace_to_go_back() {
    let mut pty = Pty::spawn(&[], "ko_KR.UTF-8", true);

    pty.expect("질문 1/11");
    pty.expect("컨테이너/쿠버네티스 운영 경험 (10점)");
    pty.expect("프로덕션 운영 1년 이상");
    pty.expect("(5점과 3점 사이)");
    pty.expect("현재 총점: 0.0 / 100");
    pty.press("2");
    pty.expect("질문 2/11");
    pty.expect("CI/CD 파이프라인 성숙도");
    pty.press("b");
    pty.expect("질문 1/11");
    pty.expect("› 2");
    pty.press("5");
    pty.expect("질문 2/11");
    pty.expect("현재 총점: 10.0 / 100");
    pty.press("5");
    pty.expect("질문 3/11");
    pty.press(BACKSPACE);
    pty.expect("질문 2/11");
    pty.press(ENTER);
    // Enter keeps the selected earlier answer (5).
    pty.expect("질문 3/11");
    pty.expect("현재 총점: 20.0 / 100");
    for next in 4..=11 {
        pty.press("5");
        pty.expect(&format!("질문 {next}/11"));
    }
    pty.press("5");
    pty.expect("모든 항목에 응답했습니다");
    pty.expect("현재 총점: 100.0 / 100");
    pty.press(ENTER);

    let (output, code) = pty.finish();
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("총점: 100.0 / 100"), "{output}");
    assert!(output.contains("마이크로서비스 도입 강력 추천"), "{output}");
}

#[test]
fn quitting_with_q_esc_or_ctrl_c_exits_130_and_writes_nothing() {
    for key in ["q", ESC, CTRL_C] {
        let tmp = tempfile::tempdir().unwrap();
        let history = tmp.path().join("history");
        let mut pty = Pty::spawn(
            &["--lang", "en", "--history", history.to_str().unwrap()],
            "C",
            true,
        );
        pty.expect("Question 1/11");
        pty.press("4");
        pty.expect("Question 2/11");
        pty.press(key);
        let (output, code) = pty.finish();
        assert_eq!(code, 130, "{key:?}: {output}");
        assert!(output.contains("aborted"), "{key:?}: {output}");
        assert!(!history.exists(), "{key:?}: history written");
    }
}

#[test]
fn without_a_terminal_or_answers_it_says_to_use_answers_and_exits_2() {
    let output = command()
        .arg("--lang")
        .arg("en")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("--answers FILE"), "{stderr}");
    assert!(output.stdout.is_empty());
}

const ITEM_IDS: [&str; 11] = [
    "containers",
    "cicd",
    "observability",
    "api_design",
    "team_ownership",
    "devops_culture",
    "on_call",
    "training",
    "domain_model",
    "performance_dip",
    "operating_cost",
];

/// An answers file in TOML with `scores` in checklist order.
fn answers_file(dir: &Path, name: &str, scores: [u8; 11]) -> std::path::PathBuf {
    let body: String = ITEM_IDS
        .iter()
        .zip(scores)
        .map(|(id, s)| format!("{id} = {s}\n"))
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

/// Runs `tracemart assess ARGS` with no terminal and returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let output = command()
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn an_answers_file_gives_a_report_and_exit_0() {
    let tmp = tempfile::tempdir().unwrap();
    let file = answers_file(tmp.path(), "a.toml", [4, 3, 5, 3, 3, 2, 3, 3, 4, 3, 2]);
    let (code, stdout, _) = run(&["--answers", file.to_str().unwrap(), "--lang", "en"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("Total: 64.6 / 100"), "{stdout}");
    assert!(
        stdout.contains("Adopt after shoring up the weak areas"),
        "{stdout}"
    );
    assert!(stdout.contains('█'), "{stdout}");
    assert!(!stdout.contains('\u{1b}'), "no colour when not a terminal");
}

#[test]
fn fail_under_exits_1_below_the_threshold() {
    let tmp = tempfile::tempdir().unwrap();
    let file = answers_file(tmp.path(), "a.toml", [3; 11]);
    let file = file.to_str().unwrap();
    assert_eq!(run(&["--answers", file, "--fail-under", "60"]).0, 0);
    let (code, _, stderr) = run(&["--answers", file, "--fail-under", "60.1"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("below --fail-under"), "{stderr}");
}

#[test]
fn bad_input_exits_2_naming_the_file_and_the_item() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.json");
    std::fs::write(&path, r#"{"containers": 9}"#).unwrap();
    let history = tmp.path().join("history");
    let (code, stdout, stderr) = run(&[
        "--answers",
        path.to_str().unwrap(),
        "--history",
        history.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(stderr.contains("bad.json"), "{stderr}");
    assert!(stderr.contains("`containers` has 9"), "{stderr}");
    assert!(stderr.contains("missing items `cicd`"), "{stderr}");
    assert!(!history.exists());
    assert_eq!(run(&["--fail-under", "101"]).0, 2);
    assert_eq!(run(&["--format", "yaml"]).0, 2);
}

#[test]
fn json_and_history_show_the_change_since_the_last_assessment() {
    let tmp = tempfile::tempdir().unwrap();
    let history = tmp.path().join("history");
    let history = history.to_str().unwrap();
    let before = answers_file(tmp.path(), "before.toml", [3; 11]);
    let after = answers_file(tmp.path(), "after.toml", [3, 5, 3, 3, 3, 3, 3, 3, 3, 3, 2]);
    let (code, _, stderr) = run(&["--answers", before.to_str().unwrap(), "--history", history]);
    assert_eq!(code, 0, "{stderr}");

    let (code, stdout, _) = run(&[
        "--answers",
        after.to_str().unwrap(),
        "--history",
        history,
        "--format",
        "json",
    ]);

    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["total"], 62.6);
    assert_eq!(json["change"]["total"], 2.6);
    assert_eq!(json["change"]["categories"]["technical"], 4.0);
    assert_eq!(json["change"]["categories"]["business"], -1.4);
    assert_eq!(std::fs::read_dir(history).unwrap().count(), 2);
}

#[test]
fn help_lists_every_flag() {
    let (code, stdout, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for flag in [
        "--answers",
        "--format",
        "--lang",
        "--fail-under",
        "--history",
    ] {
        assert!(stdout.contains(flag), "{flag} missing from:\n{stdout}");
    }
}
