//! The checklist itself, exactly as the seed states it: three categories, eleven weighted items,
//! each with the seed's descriptions of the 5-, 3- and 1-point levels, in Korean and English.

use crate::lang::{Lang, Text};

/// One of the three groups the seed scores separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    /// 기술적 준비도 (40 points).
    Technical,
    /// 조직적 준비도 (35 points).
    Organisational,
    /// 비즈니스 준비도 (25 points).
    Business,
}

impl Category {
    /// The categories in the seed's order.
    pub const ALL: [Category; 3] = [Self::Technical, Self::Organisational, Self::Business];

    /// The stable id used in JSON output and history files.
    pub fn id(self) -> &'static str {
        match self {
            Self::Technical => "technical",
            Self::Organisational => "organisational",
            Self::Business => "business",
        }
    }

    /// The category's name in `lang`.
    pub fn title(self, lang: Lang) -> &'static str {
        let text = match self {
            Self::Technical => Text::new("기술적 준비도", "Technical readiness"),
            Self::Organisational => Text::new("조직적 준비도", "Organisational readiness"),
            Self::Business => Text::new("비즈니스 준비도", "Business readiness"),
        };
        text.get(lang)
    }

    /// The most points the category can give: the sum of its items' weights.
    pub fn max_points(self) -> u32 {
        ITEMS
            .iter()
            .filter(|item| item.category == self)
            .map(|item| u32::from(item.weight))
            .sum()
    }

    /// The category's items, in the seed's order.
    pub fn items(self) -> impl Iterator<Item = &'static Item> {
        ITEMS.iter().filter(move |item| item.category == self)
    }
}

/// One checklist item: answered with a score of 1 to 5, worth `score × weight / 5` points.
#[derive(Debug)]
pub struct Item {
    /// The id used in answers files, JSON output and history (`containers`, `cicd`, ...).
    pub id: &'static str,
    /// The group the item counts towards.
    pub category: Category,
    /// The points a score of 5 gives.
    pub weight: u8,
    title: Text,
    /// What 5, 3 and 1 look like; 4 and 2 lie between.
    levels: [Text; 3],
}

impl Item {
    /// The item's name in `lang`.
    pub fn title(&self, lang: Lang) -> &'static str {
        self.title.get(lang)
    }

    /// The seed's description of `score`, for the three scores it describes (5, 3 and 1).
    pub fn level(&self, score: u8, lang: Lang) -> Option<&'static str> {
        match score {
            5 => Some(self.levels[0].get(lang)),
            3 => Some(self.levels[1].get(lang)),
            1 => Some(self.levels[2].get(lang)),
            _ => None,
        }
    }

    /// The item's position in the checklist (0-based).
    pub fn index(&self) -> usize {
        ITEMS
            .iter()
            .position(|item| item.id == self.id)
            .unwrap_or_default()
    }
}

/// Finds an item by its id.
pub fn item(id: &str) -> Option<&'static Item> {
    ITEMS.iter().find(|item| item.id == id)
}

/// The ids of all items, in the seed's order, for messages that list the allowed ids.
pub fn item_ids() -> impl Iterator<Item = &'static str> {
    ITEMS.iter().map(|item| item.id)
}

/// The eleven items, in the seed's order. Weights add up to 100.
pub static ITEMS: [Item; 11] = [
    Item {
        id: "containers",
        category: Category::Technical,
        weight: 10,
        title: Text::new(
            "컨테이너/쿠버네티스 운영 경험",
            "Container / Kubernetes operations",
        ),
        levels: [
            Text::new(
                "프로덕션 운영 1년 이상",
                "Run in production for over a year",
            ),
            Text::new("스테이징 환경 운영", "Run in a staging environment"),
            Text::new("개발 환경에서만 사용", "Used in development only"),
        ],
    },
    Item {
        id: "cicd",
        category: Category::Technical,
        weight: 10,
        title: Text::new("CI/CD 파이프라인 성숙도", "CI/CD pipeline maturity"),
        levels: [
            Text::new(
                "완전 자동화 + 자동 테스트 + 자동 롤백",
                "Fully automated, with automatic tests and automatic rollback",
            ),
            Text::new(
                "반자동화 (수동 승인 필요)",
                "Semi-automatic (manual approval needed)",
            ),
            Text::new("수동 배포", "Manual deploys"),
        ],
    },
    Item {
        id: "observability",
        category: Category::Technical,
        weight: 10,
        title: Text::new("모니터링/로깅 시스템", "Monitoring and logging"),
        levels: [
            Text::new(
                "분산 트레이싱 + 메트릭 + 알림",
                "Distributed tracing + metrics + alerting",
            ),
            Text::new(
                "기본 메트릭과 로그 수집",
                "Basic metrics and log collection",
            ),
            Text::new("개별 서버 로그만", "Per-server logs only"),
        ],
    },
    Item {
        id: "api_design",
        category: Category::Technical,
        weight: 10,
        title: Text::new("API 설계 및 문서화 역량", "API design and documentation"),
        levels: [
            Text::new(
                "OpenAPI 기반 Contract-First 개발",
                "Contract-first development based on OpenAPI",
            ),
            Text::new("RESTful API 설계 경험", "Experience designing RESTful APIs"),
            Text::new("기본적인 API 개발만", "Basic API development only"),
        ],
    },
    Item {
        id: "team_ownership",
        category: Category::Organisational,
        weight: 10,
        title: Text::new("팀 구조 및 소유권", "Team structure and ownership"),
        levels: [
            Text::new(
                "서비스별 전담 팀 구성 가능",
                "A dedicated team per service is possible",
            ),
            Text::new("팀 재조직 계획 수립됨", "A reorganisation is planned"),
            Text::new("현재 기능별 팀 구조", "Functional teams today"),
        ],
    },
    Item {
        id: "devops_culture",
        category: Category::Organisational,
        weight: 10,
        title: Text::new("DevOps 문화 및 역량", "DevOps culture and skills"),
        levels: [
            Text::new(
                "You Build It, You Run It 문화",
                "A you-build-it-you-run-it culture",
            ),
            Text::new(
                "DevOps 팀과 개발 팀 협업",
                "DevOps and development teams collaborate",
            ),
            Text::new(
                "전통적인 운영팀 분리",
                "A separate, traditional operations team",
            ),
        ],
    },
    Item {
        id: "on_call",
        category: Category::Organisational,
        weight: 8,
        title: Text::new("24/7 운영 체계", "24/7 operations"),
        levels: [
            Text::new(
                "On-call 로테이션 + Runbook + 자동화",
                "On-call rotation + runbooks + automation",
            ),
            Text::new("업무 시간 대응 체계", "Business-hours response"),
            Text::new("장애 대응 프로세스 미비", "No incident process"),
        ],
    },
    Item {
        id: "training",
        category: Category::Organisational,
        weight: 7,
        title: Text::new("교육 및 역량 개발", "Training and skills development"),
        levels: [
            Text::new(
                "체계적 교육 프로그램 + 인증 취득",
                "A systematic training programme + certifications",
            ),
            Text::new(
                "온라인 교육 + 컨퍼런스 참여",
                "Online courses + conferences",
            ),
            Text::new("개별 학습 의존", "Individual learning only"),
        ],
    },
    Item {
        id: "domain_model",
        category: Category::Business,
        weight: 10,
        title: Text::new("도메인 모델 명확성", "Domain model clarity"),
        levels: [
            Text::new(
                "DDD 적용 + 도메인 전문가 참여",
                "DDD applied, with domain experts involved",
            ),
            Text::new("비즈니스 프로세스 문서화", "Business processes documented"),
            Text::new("개발자 중심 설계", "Developer-centred design"),
        ],
    },
    Item {
        id: "performance_dip",
        category: Category::Business,
        weight: 8,
        title: Text::new(
            "초기 성능 저하 수용 가능성",
            "Tolerance of an initial performance dip",
        ),
        levels: [
            Text::new(
                "장기적 관점에서 초기 투자 승인",
                "The initial investment is approved as a long-term one",
            ),
            Text::new("제한적 성능 저하 수용", "A limited dip is acceptable"),
            Text::new("현재 성능 유지 필수", "Today's performance must hold"),
        ],
    },
    Item {
        id: "operating_cost",
        category: Category::Business,
        weight: 7,
        title: Text::new("추가 운영 비용 감당 능력", "Room for extra operating cost"),
        levels: [
            Text::new(
                "인프라 비용 50% 증가 수용",
                "A 50% rise in infrastructure cost is accepted",
            ),
            Text::new("제한적 비용 증가 가능", "A limited increase is possible"),
            Text::new("현재 비용 수준 유지 필요", "Today's cost must hold"),
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_add_up_to_the_seeds_category_maxima_and_100() {
        assert_eq!(Category::Technical.max_points(), 40);
        assert_eq!(Category::Organisational.max_points(), 35);
        assert_eq!(Category::Business.max_points(), 25);
        let total: u32 = ITEMS.iter().map(|item| u32::from(item.weight)).sum();
        assert_eq!(total, 100);
    }

    #[test]
    fn ids_are_unique_and_in_the_issue_order() {
        let ids: Vec<_> = item_ids().collect();
        assert_eq!(
            ids,
            [
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
                "operating_cost"
            ]
        );
    }
}
