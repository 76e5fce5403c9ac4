//! Scoring, exactly: an item's points are `score × weight / 5`, kept as integer tenths of a point
//! (`score × weight × 2`) so that 3 × 7 / 5 = 4.2 is never rounded; the verdict and the
//! improvement plan follow from the total.

use std::fmt;

use crate::checklist::{Category, ITEMS, Item};
use crate::lang::{Lang, Text};

/// A valid answer to one item: 1 to 5.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Score(u8);

impl Score {
    /// The lowest score.
    pub const MIN: u8 = 1;
    /// The highest score.
    pub const MAX: u8 = 5;

    /// A score, if `value` is 1 to 5.
    pub fn new(value: i64) -> Option<Self> {
        u8::try_from(value)
            .ok()
            .filter(|v| (Self::MIN..=Self::MAX).contains(v))
            .map(Self)
    }

    /// The score as a number.
    pub fn get(self) -> u8 {
        self.0
    }
}

/// A number of points, in exact tenths (`Points(42)` is 4.2 points).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Points(i32);

impl Points {
    /// `tenths` tenths of a point.
    pub const fn from_tenths(tenths: i32) -> Self {
        Self(tenths)
    }

    /// A whole number of points.
    pub const fn whole(points: i32) -> Self {
        Self(points * 10)
    }

    /// The points `score` gives an item of `weight`: `score × weight / 5`.
    pub fn for_answer(score: Score, weight: u8) -> Self {
        Self(i32::from(score.get()) * i32::from(weight) * 2)
    }

    /// The value in tenths of a point.
    pub fn tenths(self) -> i32 {
        self.0
    }

    /// The value as a JSON number; exact to the tenth, which is all it ever holds.
    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / 10.0
    }

    /// This value in percent of `max`, rounded down.
    pub fn percent_of(self, max: Points) -> i32 {
        if max.0 == 0 { 0 } else { self.0 * 100 / max.0 }
    }

    /// Parses a threshold such as `60` or `72.5` (at most one decimal).
    pub fn parse(text: &str) -> Option<Self> {
        let (whole, tenth) = match text.split_once('.') {
            Some((whole, tenth)) if tenth.len() == 1 => (whole, tenth),
            Some(_) => return None,
            None => (text, "0"),
        };
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let whole: i32 = whole.parse().ok()?;
        let tenth: i32 = tenth.parse().ok()?;
        Some(Self(whole.checked_mul(10)? + tenth))
    }

    /// Formats a change with its sign: `+6.0`, `-1.4`, `0.0`.
    pub fn signed(self) -> String {
        if self.0 > 0 {
            format!("+{self}")
        } else {
            self.to_string()
        }
    }
}

impl fmt::Display for Points {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{}", abs / 10, abs % 10)
    }
}

impl std::ops::Add for Points {
    type Output = Points;
    fn add(self, rhs: Points) -> Points {
        Points(self.0 + rhs.0)
    }
}

impl std::ops::Sub for Points {
    type Output = Points;
    fn sub(self, rhs: Points) -> Points {
        Points(self.0 - rhs.0)
    }
}

impl std::iter::Sum for Points {
    fn sum<I: Iterator<Item = Points>>(iter: I) -> Points {
        iter.fold(Points(0), |a, b| a + b)
    }
}

/// A complete set of answers: one score for each of the eleven items, in checklist order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answers([Score; 11]);

impl Answers {
    /// Answers from scores in checklist order.
    pub fn new(scores: [Score; 11]) -> Self {
        Self(scores)
    }

    /// The score given to `item`.
    pub fn score(&self, item: &Item) -> Score {
        self.0[item.index()]
    }

    /// The `(id, score)` pairs, in checklist order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, Score)> + '_ {
        ITEMS
            .iter()
            .zip(self.0.iter())
            .map(|(item, s)| (item.id, *s))
    }
}

/// The seed's reading of a total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// 80 and over.
    StronglyRecommended,
    /// 60 to 79.
    AdoptAfterShoringUp,
    /// 40 to 59.
    PrepareForAYear,
    /// Under 40.
    Reconsider,
}

impl Verdict {
    /// The verdict for `total`.
    pub fn for_total(total: Points) -> Self {
        if total >= Points::whole(80) {
            Self::StronglyRecommended
        } else if total >= Points::whole(60) {
            Self::AdoptAfterShoringUp
        } else if total >= Points::whole(40) {
            Self::PrepareForAYear
        } else {
            Self::Reconsider
        }
    }

    /// The stable id used in JSON output.
    pub fn id(self) -> &'static str {
        match self {
            Self::StronglyRecommended => "strongly_recommended",
            Self::AdoptAfterShoringUp => "adopt_after_shoring_up",
            Self::PrepareForAYear => "prepare_for_a_year",
            Self::Reconsider => "reconsider",
        }
    }

    /// The band of totals, as the seed writes it.
    pub fn band(self) -> &'static str {
        match self {
            Self::StronglyRecommended => "80+",
            Self::AdoptAfterShoringUp => "60-79",
            Self::PrepareForAYear => "40-59",
            Self::Reconsider => "<40",
        }
    }

    /// The seed's wording in `lang`.
    pub fn text(self, lang: Lang) -> &'static str {
        let text = match self {
            Self::StronglyRecommended => Text::new(
                "마이크로서비스 도입 강력 추천",
                "Adopting microservices is strongly recommended",
            ),
            Self::AdoptAfterShoringUp => Text::new(
                "부족한 영역 보완 후 도입",
                "Adopt after shoring up the weak areas",
            ),
            Self::PrepareForAYear => Text::new(
                "1년 준비 기간 필요",
                "About a year of preparation is needed",
            ),
            Self::Reconsider => Text::new(
                "마이크로서비스 도입 재고 필요",
                "Reconsider adopting microservices",
            ),
        };
        text.get(lang)
    }
}

/// The seed's improvement plan for the totals in the 60s, 50s and 40s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// 60 to 69.
    Sixties,
    /// 50 to 59.
    Fifties,
    /// 40 to 49.
    Forties,
}

impl Plan {
    /// The plan for `total`, if the seed gives one for its band.
    pub fn for_total(total: Points) -> Option<Self> {
        match total.tenths() / 100 {
            6 => Some(Self::Sixties),
            5 => Some(Self::Fifties),
            4 => Some(Self::Forties),
            _ => None,
        }
    }

    /// The stable id used in JSON output.
    pub fn id(self) -> &'static str {
        match self {
            Self::Sixties => "platform_team_and_training",
            Self::Fifties => "cicd_pipeline_first",
            Self::Forties => "improve_monolith_and_build_skills",
        }
    }

    /// The seed's wording in `lang`.
    pub fn text(self, lang: Lang) -> &'static str {
        let text = match self {
            Self::Sixties => Text::new(
                "Platform Team 구성 + 교육 프로그램",
                "Form a platform team + a training programme",
            ),
            Self::Fifties => Text::new(
                "CI/CD 파이프라인 구축 우선",
                "Build the CI/CD pipeline first",
            ),
            Self::Forties => Text::new(
                "모놀리스 개선 + 역량 강화 병행",
                "Improve the monolith while building skills",
            ),
        };
        text.get(lang)
    }
}

/// One item's result.
#[derive(Clone, Copy, Debug)]
pub struct ItemResult {
    /// The item.
    pub item: &'static Item,
    /// The answer.
    pub score: Score,
    /// `score × weight / 5`.
    pub points: Points,
    /// The item's maximum, its weight.
    pub max: Points,
}

impl ItemResult {
    /// The points a 5 would have added.
    pub fn lost(&self) -> Points {
        self.max - self.points
    }
}

/// One category's result.
#[derive(Clone, Debug)]
pub struct CategoryResult {
    /// The category.
    pub category: Category,
    /// The sum of its items' points.
    pub points: Points,
    /// The sum of its items' weights.
    pub max: Points,
    /// Its items, in checklist order.
    pub items: Vec<ItemResult>,
}

/// A scored assessment: what every report shows.
#[derive(Clone, Debug)]
pub struct Assessment {
    /// The answers it was scored from.
    pub answers: Answers,
    /// The three categories, in the seed's order.
    pub categories: Vec<CategoryResult>,
    /// The sum of all points, at most 100.
    pub total: Points,
    /// The seed's reading of the total.
    pub verdict: Verdict,
    /// The seed's plan for the total's band, where it gives one.
    pub plan: Option<Plan>,
}

/// How many of the costliest items a report lists.
pub const TOP_LOSSES: usize = 3;

impl Assessment {
    /// Scores `answers`.
    pub fn score(answers: Answers) -> Self {
        let categories: Vec<CategoryResult> = Category::ALL
            .iter()
            .map(|&category| {
                let items: Vec<ItemResult> = category
                    .items()
                    .map(|item| {
                        let score = answers.score(item);
                        ItemResult {
                            item,
                            score,
                            points: Points::for_answer(score, item.weight),
                            max: Points::whole(i32::from(item.weight)),
                        }
                    })
                    .collect();
                CategoryResult {
                    category,
                    points: items.iter().map(|r| r.points).sum(),
                    max: items.iter().map(|r| r.max).sum(),
                    items,
                }
            })
            .collect();
        let total = categories.iter().map(|c| c.points).sum();
        Self {
            answers,
            categories,
            total,
            verdict: Verdict::for_total(total),
            plan: Plan::for_total(total),
        }
    }

    /// Every item's result, in checklist order.
    pub fn items(&self) -> impl Iterator<Item = &ItemResult> {
        self.categories.iter().flat_map(|c| c.items.iter())
    }

    /// The items that cost the most points (at most [`TOP_LOSSES`], none that scored 5), the
    /// costliest first and, among equals, in checklist order.
    pub fn top_losses(&self) -> Vec<ItemResult> {
        let mut losses: Vec<ItemResult> = self
            .items()
            .filter(|r| r.lost() > Points::default())
            .copied()
            .collect();
        losses.sort_by_key(|r| std::cmp::Reverse(r.lost()));
        losses.truncate(TOP_LOSSES);
        losses
    }

    /// The result of `category`.
    pub fn category(&self, category: Category) -> Option<&CategoryResult> {
        self.categories.iter().find(|c| c.category == category)
    }
}

/// The most points an assessment can give.
pub const MAX_TOTAL: Points = Points::whole(100);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_print_with_one_decimal_and_a_sign_for_changes() {
        assert_eq!(Points::from_tenths(42).to_string(), "4.2");
        assert_eq!(Points::whole(100).to_string(), "100.0");
        assert_eq!(Points::from_tenths(-14).to_string(), "-1.4");
        assert_eq!(Points::from_tenths(60).signed(), "+6.0");
        assert_eq!(Points::from_tenths(0).signed(), "0.0");
    }

    #[test]
    fn thresholds_parse_with_at_most_one_decimal() {
        assert_eq!(Points::parse("60"), Some(Points::whole(60)));
        assert_eq!(Points::parse("72.5"), Some(Points::from_tenths(725)));
        for bad in ["", "-1", "7.25", "abc", ".5", "5."] {
            assert_eq!(Points::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_plan_follows_the_decade_of_the_total() {
        assert_eq!(Plan::for_total(Points::from_tenths(799)), None);
        assert_eq!(
            Plan::for_total(Points::from_tenths(699)),
            Some(Plan::Sixties)
        );
        assert_eq!(Plan::for_total(Points::whole(60)), Some(Plan::Sixties));
        assert_eq!(
            Plan::for_total(Points::from_tenths(599)),
            Some(Plan::Fifties)
        );
        assert_eq!(Plan::for_total(Points::whole(40)), Some(Plan::Forties));
        assert_eq!(Plan::for_total(Points::from_tenths(399)), None);
    }
}
