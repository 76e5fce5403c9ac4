//! The seed's arithmetic: `score × weight / 5` per item, exact tenths, and the verdict bands.

use tracemart_assess::{Assessment, Category, Plan, Points, Verdict};

use crate::helpers::answers;

fn total(scores: [u8; 11]) -> Points {
    Assessment::score(answers(scores)).total
}

#[test]
fn all_fives_score_100_and_are_strongly_recommended() {
    let a = Assessment::score(answers([5; 11]));
    assert_eq!(a.total, Points::whole(100));
    assert_eq!(a.verdict, Verdict::StronglyRecommended);
    assert_eq!(a.plan, None);
    assert!(a.top_losses().is_empty());
}

#[test]
fn all_ones_score_20_and_call_for_reconsidering() {
    let a = Assessment::score(answers([1; 11]));
    assert_eq!(a.total, Points::whole(20));
    assert_eq!(a.verdict, Verdict::Reconsider);
    assert_eq!(a.plan, None);
}

#[test]
fn fractional_points_are_kept_exactly() {
    // training (7) at 3 = 4.2; on_call (8) at 3 = 4.8; operating_cost (7) at 2 = 2.8.
    let a = Assessment::score(answers([4, 3, 5, 3, 3, 2, 3, 3, 4, 3, 2]));
    let points = |id: &str| a.items().find(|r| r.item.id == id).unwrap().points;
    assert_eq!(points("training"), Points::from_tenths(42));
    assert_eq!(points("on_call"), Points::from_tenths(48));
    assert_eq!(points("operating_cost"), Points::from_tenths(28));
    assert_eq!(points("training").to_string(), "4.2");
    let category = |c| a.category(c).unwrap().points;
    assert_eq!(category(Category::Technical), Points::whole(30));
    assert_eq!(category(Category::Organisational), Points::whole(19));
    assert_eq!(category(Category::Business), Points::from_tenths(156));
    assert_eq!(a.total, Points::from_tenths(646));
}

#[test]
fn each_category_is_scored_against_its_seed_maximum() {
    let a = Assessment::score(answers([5; 11]));
    let maxima: Vec<_> = a.categories.iter().map(|c| (c.category, c.max)).collect();
    assert_eq!(
        maxima,
        [
            (Category::Technical, Points::whole(40)),
            (Category::Organisational, Points::whole(35)),
            (Category::Business, Points::whole(25)),
        ]
    );
}

/// A named answer set, the total it gives in tenths, and its verdict and plan.
type Boundary = (&'static str, [u8; 11], i32, Verdict, Option<Plan>);

/// Answer sets on both sides of each band boundary.
const BOUNDARIES: [Boundary; 8] = [
    (
        "39.0",
        [1, 2, 1, 1, 1, 4, 3, 4, 2, 2, 1],
        390,
        Verdict::Reconsider,
        None,
    ),
    (
        "39.8",
        [1, 3, 1, 1, 1, 3, 2, 4, 1, 3, 3],
        398,
        Verdict::Reconsider,
        None,
    ),
    (
        "40.0",
        [1, 1, 1, 4, 1, 2, 1, 3, 4, 3, 1],
        400,
        Verdict::PrepareForAYear,
        Some(Plan::Forties),
    ),
    (
        "59.8",
        [3, 3, 1, 1, 5, 3, 4, 5, 5, 1, 2],
        598,
        Verdict::PrepareForAYear,
        Some(Plan::Fifties),
    ),
    (
        "60.0",
        [2, 3, 1, 2, 5, 4, 5, 2, 4, 1, 4],
        600,
        Verdict::AdoptAfterShoringUp,
        Some(Plan::Sixties),
    ),
    (
        "79.0",
        [5, 4, 4, 2, 5, 3, 5, 2, 5, 5, 3],
        790,
        Verdict::AdoptAfterShoringUp,
        None,
    ),
    (
        "79.8",
        [5, 4, 2, 3, 5, 3, 5, 4, 5, 5, 3],
        798,
        Verdict::AdoptAfterShoringUp,
        None,
    ),
    (
        "80.0",
        [5, 3, 5, 4, 5, 4, 5, 2, 4, 4, 2],
        800,
        Verdict::StronglyRecommended,
        None,
    ),
];

#[test]
fn every_band_boundary_falls_on_the_seeds_side() {
    for (name, scores, tenths, verdict, plan) in BOUNDARIES {
        let a = Assessment::score(answers(scores));
        assert_eq!(a.total, Points::from_tenths(tenths), "case {name}");
        assert_eq!(a.total.to_string(), name, "case {name}");
        assert_eq!(a.verdict, verdict, "case {name}");
        assert_eq!(a.plan, plan, "case {name}");
    }
}

#[test]
fn the_fifties_get_the_cicd_first_plan() {
    let a = Assessment::score(answers([3, 1, 1, 3, 3, 2, 4, 5, 3, 2, 1]));
    assert_eq!(a.total, Points::from_tenths(500));
    assert_eq!(a.plan, Some(Plan::Fifties));
}

#[test]
fn the_costliest_items_come_first_at_most_three_and_ties_keep_checklist_order() {
    let a = Assessment::score(answers([5, 1, 5, 5, 5, 1, 1, 1, 5, 5, 5]));
    let ids: Vec<_> = a.top_losses().iter().map(|r| r.item.id).collect();
    // cicd and devops_culture lose 8.0 each, on_call 6.4, training 5.6.
    assert_eq!(ids, ["cicd", "devops_culture", "on_call"]);
    assert_eq!(
        total([5, 1, 5, 5, 5, 1, 1, 1, 5, 5, 5]),
        Points::from_tenths(720)
    );
}
