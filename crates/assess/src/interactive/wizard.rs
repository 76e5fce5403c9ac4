//! The questionnaire as a pure state machine: keys in, screens out. The terminal driver only
//! reads keys and paints the lines this returns, so the flow is tested without a terminal.

use crate::checklist::{Category, ITEMS, Item};
use crate::lang::{Lang, display_width, messages, pad};
use crate::report::points_label;
use crate::score::{Answers, MAX_TOTAL, Points, Score};

/// A key press, as the questionnaire understands it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Key {
    /// 1 to 5: answer the question with that score.
    Digit(u8),
    /// Move the selection to the next higher score.
    Up,
    /// Move the selection to the next lower score.
    Down,
    /// Answer with the selected score, or finish on the review screen.
    Enter,
    /// Go back to the previous question.
    Back,
    /// Quit without a result.
    Quit,
}

/// What a key press led to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Keep asking.
    Continue,
    /// All answered and confirmed.
    Done(Answers),
    /// The person quit.
    Aborted,
}

/// The score a question's selection starts on when it has no answer yet.
const DEFAULT_SELECTION: u8 = 3;

/// The questionnaire's state: the answers so far and where the person is.
#[derive(Debug, Clone)]
pub(crate) struct Wizard {
    answers: [Option<Score>; 11],
    /// The question shown (0-based); `ITEMS.len()` is the review screen.
    current: usize,
    selected: u8,
}

impl Wizard {
    pub(crate) fn new() -> Self {
        Self {
            answers: [None; 11],
            current: 0,
            selected: DEFAULT_SELECTION,
        }
    }

    /// Applies one key press.
    pub(crate) fn on_key(&mut self, key: Key) -> Outcome {
        if key == Key::Quit {
            return Outcome::Aborted;
        }
        if self.current >= ITEMS.len() {
            return self.on_review_key(key);
        }
        match key {
            Key::Digit(d) => {
                if let Some(score) = Score::new(i64::from(d)) {
                    self.answer(score);
                }
            }
            Key::Up => self.selected = (self.selected + 1).min(Score::MAX),
            Key::Down => self.selected = self.selected.saturating_sub(1).max(Score::MIN),
            Key::Enter => {
                if let Some(score) = Score::new(i64::from(self.selected)) {
                    self.answer(score);
                }
            }
            Key::Back => {
                if self.current > 0 {
                    self.go_to(self.current - 1);
                }
            }
            Key::Quit => return Outcome::Aborted,
        }
        Outcome::Continue
    }

    fn on_review_key(&mut self, key: Key) -> Outcome {
        match key {
            Key::Enter => match self.complete() {
                Some(answers) => Outcome::Done(answers),
                None => Outcome::Continue,
            },
            Key::Back => {
                self.go_to(ITEMS.len() - 1);
                Outcome::Continue
            }
            Key::Quit => Outcome::Aborted,
            Key::Digit(_) | Key::Up | Key::Down => Outcome::Continue,
        }
    }

    fn answer(&mut self, score: Score) {
        self.answers[self.current] = Some(score);
        self.go_to(self.current + 1);
    }

    fn go_to(&mut self, index: usize) {
        self.current = index;
        self.selected = self
            .answers
            .get(index)
            .copied()
            .flatten()
            .map_or(DEFAULT_SELECTION, Score::get);
    }

    fn complete(&self) -> Option<Answers> {
        let scores: Option<Vec<Score>> = self.answers.iter().copied().collect();
        scores
            .and_then(|s| <[Score; 11]>::try_from(s).ok())
            .map(Answers::new)
    }

    /// The points of the answers given so far.
    pub(crate) fn running_total(&self) -> Points {
        ITEMS
            .iter()
            .zip(self.answers)
            .filter_map(|(item, score)| score.map(|s| Points::for_answer(s, item.weight)))
            .sum()
    }

    fn answered(&self) -> usize {
        self.answers.iter().flatten().count()
    }

    /// The screen for the current state, as lines of plain text; `selected_line` is the index
    /// of the line to highlight, if any.
    pub(crate) fn screen(&self, lang: Lang) -> Screen {
        let m = messages(lang);
        let total = ITEMS.len();
        let footer = format!(
            "{}: {} / {} ({} {}/{total})",
            m.running_total,
            self.running_total(),
            MAX_TOTAL.tenths() / 10,
            m.answered,
            self.answered(),
        );
        let Some(item) = ITEMS.get(self.current) else {
            return self.review_screen(lang, footer);
        };
        let mut lines = vec![
            format!(
                "{} · {} {}/{total}",
                m.heading,
                m.question,
                self.current + 1
            ),
            format!(
                "{} ({})",
                item.category.title(lang),
                points_label(lang, item.category.max_points())
            ),
            String::new(),
            format!("{} ({})", item.title(lang), points_label(lang, item.weight)),
            String::new(),
        ];
        let mut selected_line = None;
        for score in (Score::MIN..=Score::MAX).rev() {
            let marker = if score == self.selected { '›' } else { ' ' };
            if score == self.selected {
                selected_line = Some(lines.len());
            }
            let description = item
                .level(score, lang)
                .map_or_else(|| between(lang, score), str::to_owned);
            let points = Score::new(i64::from(score))
                .map(|s| Points::for_answer(s, item.weight))
                .unwrap_or_default();
            lines.push(format!(" {marker} {score}  {description}  [{points}]"));
        }
        lines.push(String::new());
        lines.push(footer);
        lines.push(m.keys.to_owned());
        Screen {
            lines,
            selected_line,
        }
    }

    fn review_screen(&self, lang: Lang, footer: String) -> Screen {
        let m = messages(lang);
        let mut lines = vec![m.heading.to_owned(), m.review.to_owned(), String::new()];
        for category in Category::ALL {
            lines.push(category.title(lang).to_owned());
            for item in category.items() {
                lines.push(self.review_line(item, lang));
            }
        }
        lines.push(String::new());
        lines.push(footer);
        lines.push(m.review_keys.to_owned());
        Screen {
            lines,
            selected_line: None,
        }
    }

    fn review_line(&self, item: &Item, lang: Lang) -> String {
        let score = self.answers.get(item.index()).copied().flatten();
        let (score, points) = score.map_or((0, Points::default()), |s| {
            (s.get(), Points::for_answer(s, item.weight))
        });
        let width = ITEMS
            .iter()
            .map(|i| display_width(i.title(lang)))
            .max()
            .unwrap_or_default();
        format!(
            "  {} {score}/5 {:>5} / {}",
            pad(item.title(lang), width),
            points.to_string(),
            item.weight
        )
    }
}

/// What the seed leaves undescribed: 4 and 2 lie between the levels around them.
fn between(lang: Lang, score: u8) -> String {
    let (high, low) = (score + 1, score - 1);
    match lang {
        Lang::Ko => format!("({high}점과 {low}점 사이)"),
        Lang::En => format!("(between {high} and {low})"),
    }
}

/// A screen to paint.
#[derive(Debug)]
pub(crate) struct Screen {
    pub(crate) lines: Vec<String>,
    pub(crate) selected_line: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(wizard: &mut Wizard, keys: &[Key]) -> Outcome {
        let mut outcome = Outcome::Continue;
        for &key in keys {
            outcome = wizard.on_key(key);
        }
        outcome
    }

    #[test]
    fn digits_answer_and_advance_and_enter_on_review_finishes() {
        let mut wizard = Wizard::new();
        press(&mut wizard, &[Key::Digit(5); 11]);
        assert_eq!(wizard.running_total(), Points::whole(100));
        let Outcome::Done(answers) = wizard.on_key(Key::Enter) else {
            panic!("expected the questionnaire to finish");
        };
        assert!(answers.iter().all(|(_, s)| s.get() == 5));
    }

    #[test]
    fn arrows_move_the_selection_within_one_to_five_and_enter_answers_it() {
        let mut wizard = Wizard::new();
        press(&mut wizard, &[Key::Up, Key::Up, Key::Up, Key::Enter]);
        assert_eq!(wizard.answers[0].map(Score::get), Some(5));
        press(&mut wizard, &[Key::Down, Key::Down, Key::Down, Key::Enter]);
        assert_eq!(wizard.answers[1].map(Score::get), Some(1));
    }

    #[test]
    fn back_returns_to_the_previous_answer_so_it_can_be_changed() {
        let mut wizard = Wizard::new();
        press(&mut wizard, &[Key::Digit(2), Key::Digit(4), Key::Back]);
        assert_eq!(wizard.current, 1);
        assert_eq!(wizard.selected, 4);
        press(&mut wizard, &[Key::Back, Key::Back, Key::Digit(5)]);
        assert_eq!(wizard.answers[0].map(Score::get), Some(5));
        assert_eq!(wizard.answers[1].map(Score::get), Some(4));
    }

    #[test]
    fn back_from_the_review_screen_reopens_the_last_question() {
        let mut wizard = Wizard::new();
        press(&mut wizard, &[Key::Digit(3); 11]);
        press(&mut wizard, &[Key::Back, Key::Digit(1)]);
        let Outcome::Done(answers) = wizard.on_key(Key::Enter) else {
            panic!("expected the questionnaire to finish");
        };
        assert_eq!(answers.iter().last().map(|(_, s)| s.get()), Some(1));
    }

    #[test]
    fn quit_aborts_anywhere_and_out_of_range_digits_are_ignored() {
        let mut wizard = Wizard::new();
        assert_eq!(wizard.on_key(Key::Digit(9)), Outcome::Continue);
        assert_eq!(wizard.current, 0);
        assert_eq!(wizard.on_key(Key::Quit), Outcome::Aborted);
    }

    #[test]
    fn the_screen_shows_the_seeds_levels_and_the_running_total() {
        let mut wizard = Wizard::new();
        press(&mut wizard, &[Key::Digit(4)]);
        let text = wizard.screen(Lang::Ko).lines.join("\n");
        assert!(text.contains("CI/CD 파이프라인 성숙도 (10점)"), "{text}");
        assert!(
            text.contains("완전 자동화 + 자동 테스트 + 자동 롤백"),
            "{text}"
        );
        assert!(text.contains("현재 총점: 8.0 / 100"), "{text}");
    }
}
