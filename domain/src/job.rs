//! Jobs and their kanban stages, and the names of SMS templates: only what SMS needs
//! from the applicant-tracking side.

use crate::validation::{Invalid, bounded_text_type};

bounded_text_type!(
    /// A job's title, e.g. `Registered Nurse`.
    JobTitle,
    200
);

bounded_text_type!(
    /// The name of one column of a job's board, e.g. `Screening`.
    StageName,
    60
);

/// A job's stages in board order: 1 to 20 names, distinct ignoring case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStages(Vec<String>);

impl JobStages {
    /// Most stages a job may have.
    pub const MAX_STAGES: usize = 20;

    /// The stages a job gets when none are given.
    pub const DEFAULT: [&'static str; 5] = ["Applied", "Screening", "Interview", "Offer", "Hired"];

    /// The default pipeline.
    pub fn default_stages() -> Self {
        Self(Self::DEFAULT.iter().map(|&name| name.to_owned()).collect())
    }

    /// Checks that `count` stages are allowed (1 to 20), before reading each name.
    pub fn check_count(count: usize) -> Result<(), Invalid> {
        if count == 0 {
            return Err(Invalid::new("must name at least one stage"));
        }
        if count > Self::MAX_STAGES {
            return Err(Invalid::new(format!(
                "must have at most {} stages",
                Self::MAX_STAGES
            )));
        }
        Ok(())
    }

    /// Accepts 1 to 20 stage names that differ from each other ignoring case.
    pub fn new(names: Vec<StageName>) -> Result<Self, Invalid> {
        Self::check_count(names.len())?;
        let mut seen: Vec<String> = Vec::with_capacity(names.len());
        for name in &names {
            let folded = name.as_str().to_lowercase();
            if seen.contains(&folded) {
                return Err(Invalid::new(format!(
                    "must not repeat a stage; {:?} appears twice",
                    name.as_str()
                )));
            }
            seen.push(folded);
        }
        Ok(Self(names.into_iter().map(|name| name.0).collect()))
    }

    /// The names in board order.
    pub fn names(&self) -> &[String] {
        &self.0
    }

    /// The names, owned.
    pub fn into_inner(self) -> Vec<String> {
        self.0
    }
}

bounded_text_type!(
    /// The name of an SMS template, shown in the template picker.
    TemplateName,
    100
);

#[cfg(test)]
mod tests {
    use super::*;

    fn stages(names: &[&str]) -> Result<JobStages, Invalid> {
        let names = names
            .iter()
            .map(|name| StageName::parse(name))
            .collect::<Result<Vec<_>, _>>()?;
        JobStages::new(names)
    }

    #[test]
    fn titles_and_names_are_trimmed_and_bounded() {
        assert_eq!(
            JobTitle::parse("  Nurse ").map(JobTitle::into_inner),
            Ok("Nurse".to_owned())
        );
        assert!(JobTitle::parse(" ").is_err());
        assert!(JobTitle::parse(&"a".repeat(200)).is_ok());
        assert!(JobTitle::parse(&"a".repeat(201)).is_err());
        assert!(StageName::parse(&"a".repeat(60)).is_ok());
        assert!(StageName::parse(&"a".repeat(61)).is_err());
        assert!(TemplateName::parse(&"a".repeat(100)).is_ok());
        assert!(TemplateName::parse(&"a".repeat(101)).is_err());
        assert!(TemplateName::parse("").is_err());
    }

    #[test]
    fn stages_are_one_to_twenty_distinct_names() {
        assert_eq!(
            stages(&["Applied", " Hired "]).map(JobStages::into_inner),
            Ok(vec!["Applied".to_owned(), "Hired".to_owned()])
        );
        assert!(stages(&[]).is_err());
        let twenty: Vec<String> = (0..20).map(|n| format!("Stage {n}")).collect();
        let twenty: Vec<&str> = twenty.iter().map(String::as_str).collect();
        assert!(stages(&twenty).is_ok());
        let mut twenty_one = twenty.clone();
        twenty_one.push("One more");
        assert!(stages(&twenty_one).is_err());
        assert!(stages(&["Offer", "offer"]).is_err());
        assert!(stages(&["Offer", ""]).is_err());
    }

    #[test]
    fn the_default_pipeline_is_valid() {
        assert_eq!(stages(&JobStages::DEFAULT), Ok(JobStages::default_stages()));
    }
}
