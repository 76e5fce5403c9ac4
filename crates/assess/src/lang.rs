//! The two languages of the assessment: Korean (the seed's own wording) and English.

use clap::ValueEnum;

/// The language of questions and reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// 한국어: the seed's own wording.
    Ko,
    /// English.
    En,
}

impl Lang {
    /// The language a locale name such as `ko_KR.UTF-8` asks for; English unless it is Korean.
    pub fn from_locale(locale: Option<&str>) -> Self {
        match locale {
            Some(name) if name.to_ascii_lowercase().starts_with("ko") => Self::Ko,
            _ => Self::En,
        }
    }

    /// The code used in JSON output (`ko` or `en`).
    pub fn code(self) -> &'static str {
        match self {
            Self::Ko => "ko",
            Self::En => "en",
        }
    }
}

/// A piece of text in both languages.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Text {
    ko: &'static str,
    en: &'static str,
}

impl Text {
    /// Pairs the Korean and English wording.
    pub(crate) const fn new(ko: &'static str, en: &'static str) -> Self {
        Self { ko, en }
    }

    /// The wording in `lang`.
    pub(crate) fn get(self, lang: Lang) -> &'static str {
        match lang {
            Lang::Ko => self.ko,
            Lang::En => self.en,
        }
    }
}

/// The fixed strings of the questionnaire and the reports.
#[derive(Debug)]
pub(crate) struct Messages {
    pub(crate) heading: &'static str,
    pub(crate) question: &'static str,
    pub(crate) running_total: &'static str,
    pub(crate) answered: &'static str,
    pub(crate) points: &'static str,
    pub(crate) score: &'static str,
    pub(crate) item: &'static str,
    pub(crate) category: &'static str,
    pub(crate) keys: &'static str,
    pub(crate) review: &'static str,
    pub(crate) review_keys: &'static str,
    pub(crate) total: &'static str,
    pub(crate) verdict: &'static str,
    pub(crate) plan: &'static str,
    pub(crate) no_plan: &'static str,
    pub(crate) top_losses: &'static str,
    pub(crate) lost: &'static str,
    pub(crate) five_points_looks_like: &'static str,
    pub(crate) nothing_lost: &'static str,
    pub(crate) since_last: &'static str,
    pub(crate) first_assessment: &'static str,
    pub(crate) saved_to: &'static str,
}

static KO: Messages = Messages {
    heading: "마이크로서비스 도입 성공 가능성 평가",
    question: "질문",
    running_total: "현재 총점",
    answered: "응답",
    points: "점",
    score: "점수",
    item: "항목",
    category: "영역",
    keys: "1-5 선택 · ↑/↓ 이동 · Enter 확인 · ←/Backspace/b 이전 · q/Esc 종료",
    review: "모든 항목에 응답했습니다. 결과를 확인하세요.",
    review_keys: "Enter 완료 · ←/Backspace/b 이전 질문으로 · q/Esc 종료",
    total: "총점",
    verdict: "평가 결과",
    plan: "개선 방안",
    no_plan: "점수대별 개선 방안 없음: 아래 항목부터 보완",
    top_losses: "가장 많은 점수를 잃은 항목",
    lost: "손실",
    five_points_looks_like: "5점 기준",
    nothing_lost: "잃은 점수 없음",
    since_last: "지난 평가 대비",
    first_assessment: "첫 평가: 비교할 이전 결과가 없습니다",
    saved_to: "저장됨",
};

static EN: Messages = Messages {
    heading: "Microservices readiness assessment",
    question: "Question",
    running_total: "Running total",
    answered: "answered",
    points: "points",
    score: "Score",
    item: "Item",
    category: "Category",
    keys: "1-5 answer · ↑/↓ move · Enter confirm · ←/Backspace/b back · q/Esc quit",
    review: "All items answered. Check the result.",
    review_keys: "Enter finish · ←/Backspace/b back to the last question · q/Esc quit",
    total: "Total",
    verdict: "Verdict",
    plan: "Improvement plan",
    no_plan: "no plan for this band: start with the items below",
    top_losses: "Items that cost the most points",
    lost: "lost",
    five_points_looks_like: "5 points looks like",
    nothing_lost: "no points lost",
    since_last: "Since the last assessment",
    first_assessment: "first assessment: no earlier result to compare with",
    saved_to: "saved to",
};

/// The fixed strings in `lang`.
pub(crate) fn messages(lang: Lang) -> &'static Messages {
    match lang {
        Lang::Ko => &KO,
        Lang::En => &EN,
    }
}

/// The width of `text` in terminal columns: Hangul and other wide East Asian characters take two.
pub(crate) fn display_width(text: &str) -> usize {
    text.chars().map(char_width).sum()
}

fn char_width(c: char) -> usize {
    let wide = matches!(
        u32::from(c),
        0x1100..=0x115F
            | 0x2E80..=0x303E
            | 0x3041..=0x33FF
            | 0x3400..=0x4DBF
            | 0x4E00..=0x9FFF
            | 0xA000..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6
    );
    if wide { 2 } else { 1 }
}

/// `text` padded with spaces to `width` terminal columns.
pub(crate) fn pad(text: &str, width: usize) -> String {
    let missing = width.saturating_sub(display_width(text));
    format!("{text}{}", " ".repeat(missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn korean_locales_choose_korean_and_everything_else_english() {
        assert_eq!(Lang::from_locale(Some("ko_KR.UTF-8")), Lang::Ko);
        assert_eq!(Lang::from_locale(Some("ko")), Lang::Ko);
        assert_eq!(Lang::from_locale(Some("en_US.UTF-8")), Lang::En);
        assert_eq!(Lang::from_locale(Some("C")), Lang::En);
        assert_eq!(Lang::from_locale(None), Lang::En);
    }

    #[test]
    fn hangul_is_two_columns_wide() {
        assert_eq!(display_width("총점"), 4);
        assert_eq!(display_width("CI/CD 성숙도"), 12);
        assert_eq!(pad("총점", 6), "총점  ");
    }
}
