//! SMS templates: text with `{{ merge.field }}` placeholders filled in per candidate.

use std::fmt;

use crate::validation::Invalid;

/// A value a template can insert, written `{{name}}` in a template body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MergeField {
    /// `{{candidate.first_name}}`.
    CandidateFirstName,
    /// `{{candidate.last_name}}`.
    CandidateLastName,
    /// `{{job.title}}`; empty when the candidate has no job.
    JobTitle,
    /// `{{recruiter.first_name}}`: the sender.
    RecruiterFirstName,
    /// `{{organization.name}}`.
    OrganizationName,
}

impl MergeField {
    /// Every field, in the order the known fields are listed.
    pub const ALL: [MergeField; 5] = [
        MergeField::CandidateFirstName,
        MergeField::CandidateLastName,
        MergeField::JobTitle,
        MergeField::RecruiterFirstName,
        MergeField::OrganizationName,
    ];

    /// The name written between the braces, e.g. `candidate.first_name`.
    pub fn name(self) -> &'static str {
        match self {
            MergeField::CandidateFirstName => "candidate.first_name",
            MergeField::CandidateLastName => "candidate.last_name",
            MergeField::JobTitle => "job.title",
            MergeField::RecruiterFirstName => "recruiter.first_name",
            MergeField::OrganizationName => "organization.name",
        }
    }

    /// The field called `name` (exactly, without braces or spaces), if there is one.
    pub fn from_name(name: &str) -> Option<MergeField> {
        Self::ALL.into_iter().find(|field| field.name() == name)
    }
}

impl fmt::Display for MergeField {
    /// The placeholder as written in a template: `{{candidate.first_name}}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{{{}}}}}", self.name())
    }
}

/// The values a template is rendered with, for one candidate and sender.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MergeValues {
    /// `{{candidate.first_name}}`.
    pub candidate_first_name: String,
    /// `{{candidate.last_name}}`.
    pub candidate_last_name: String,
    /// `{{job.title}}`; `None` renders as nothing.
    pub job_title: Option<String>,
    /// `{{recruiter.first_name}}`.
    pub recruiter_first_name: String,
    /// `{{organization.name}}`.
    pub organization_name: String,
}

impl MergeValues {
    /// The text `field` renders as.
    pub fn get(&self, field: MergeField) -> &str {
        match field {
            MergeField::CandidateFirstName => &self.candidate_first_name,
            MergeField::CandidateLastName => &self.candidate_last_name,
            MergeField::JobTitle => self.job_title.as_deref().unwrap_or_default(),
            MergeField::RecruiterFirstName => &self.recruiter_first_name,
            MergeField::OrganizationName => &self.organization_name,
        }
    }
}

/// A piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Text copied as it is.
    Literal(String),
    /// A placeholder.
    Field(MergeField),
}

/// A template body whose placeholders all name known merge fields.
///
/// Placeholders are `{{name}}`, with optional white space inside the braces
/// (`{{ job.title }}`). Everything else, single braces included, is literal text. In a
/// run of three or more `{`, only the last two open a placeholder; after a name, the
/// first `}}` closes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// The longest accepted body, in characters.
    pub const MAX_LENGTH: usize = 2000;

    /// Accepts a non-blank body of at most 2000 characters whose placeholders are all
    /// closed and known.
    pub fn parse(body: &str) -> Result<Self, Invalid> {
        if body.trim().is_empty() {
            return Err(Invalid::new("must not be empty"));
        }
        if body.chars().count() > Self::MAX_LENGTH {
            return Err(Invalid::new(format!(
                "must be at most {} characters",
                Self::MAX_LENGTH
            )));
        }

        let mut parts = Vec::new();
        let mut unknown: Vec<String> = Vec::new();
        let mut literal = String::new();
        let mut rest = body;
        while let Some(open) = rest.find("{{") {
            // In `{{{name}}`, the placeholder opens at the last two braces.
            let extra = rest[open + 2..].len() - rest[open + 2..].trim_start_matches('{').len();
            let open = open + extra;
            literal.push_str(&rest[..open]);
            let after_open = &rest[open + 2..];
            let close = after_open
                .find("}}")
                .filter(|&close| !after_open[..close].contains("{{"));
            let Some(close) = close else {
                return Err(unclosed());
            };
            let name = after_open[..close].trim();
            match MergeField::from_name(name) {
                Some(field) => {
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Field(field));
                }
                None => {
                    let placeholder = format!("{{{{{name}}}}}");
                    if !unknown.contains(&placeholder) {
                        unknown.push(placeholder);
                    }
                }
            }
            rest = &after_open[close + 2..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }

        if !unknown.is_empty() {
            let known = MergeField::ALL
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            let plural = if unknown.len() == 1 { "" } else { "s" };
            return Err(Invalid::new(format!(
                "unknown merge field{plural} {}; known fields: {known}",
                unknown.join(", ")
            )));
        }
        Ok(Self { parts })
    }

    /// The text for one candidate: every placeholder replaced by its value.
    pub fn render(&self, values: &MergeValues) -> String {
        let mut text = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(literal) => text.push_str(literal),
                Part::Field(field) => text.push_str(values.get(*field)),
            }
        }
        text
    }

    /// The fields the template uses, each once, in order of first appearance.
    pub fn fields(&self) -> Vec<MergeField> {
        let mut fields = Vec::new();
        let used = self.parts.iter().filter_map(|part| match part {
            Part::Field(field) => Some(*field),
            Part::Literal(_) => None,
        });
        for field in used {
            if !fields.contains(&field) {
                fields.push(field);
            }
        }
        fields
    }

    /// The body in canonical form, placeholders written without inner spaces
    /// (`{{job.title}}`); parsing it gives the same template.
    pub fn source(&self) -> String {
        let mut source = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(literal) => source.push_str(literal),
                Part::Field(field) => source.push_str(&field.to_string()),
            }
        }
        source
    }
}

fn unclosed() -> Invalid {
    Invalid::new(
        "has a {{ without a matching }}; merge fields are written like {{candidate.first_name}}",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> MergeValues {
        MergeValues {
            candidate_first_name: "Ann".to_owned(),
            candidate_last_name: "Lee".to_owned(),
            job_title: Some("Nurse".to_owned()),
            recruiter_first_name: "Bob".to_owned(),
            organization_name: "Acme Care".to_owned(),
        }
    }

    const KNOWN: &str = "known fields: {{candidate.first_name}}, {{candidate.last_name}}, \
        {{job.title}}, {{recruiter.first_name}}, {{organization.name}}";

    #[test]
    fn field_names_round_trip() {
        for field in MergeField::ALL {
            assert_eq!(MergeField::from_name(field.name()), Some(field));
            assert_eq!(field.to_string(), format!("{{{{{}}}}}", field.name()));
        }
        assert_eq!(MergeField::from_name("candidate.phone"), None);
        assert_eq!(MergeField::from_name(" job.title"), None);
    }

    #[test]
    fn renders_every_field() {
        let template = Template::parse(
            "Hi {{candidate.first_name}} {{candidate.last_name}}, {{recruiter.first_name}} \
             from {{organization.name}} about the {{job.title}} role.",
        )
        .expect("valid");
        assert_eq!(
            template.render(&values()),
            "Hi Ann Lee, Bob from Acme Care about the Nurse role."
        );
        assert_eq!(
            template.fields(),
            [
                MergeField::CandidateFirstName,
                MergeField::CandidateLastName,
                MergeField::RecruiterFirstName,
                MergeField::OrganizationName,
                MergeField::JobTitle,
            ]
        );
    }

    #[test]
    fn spaces_inside_braces_are_allowed() {
        let template =
            Template::parse("Hi {{ candidate.first_name }}!{{job.title  }}{{\tjob.title}}")
                .expect("valid");
        assert_eq!(template.render(&values()), "Hi Ann!NurseNurse");
        assert_eq!(
            template.source(),
            "Hi {{candidate.first_name}}!{{job.title}}{{job.title}}"
        );
    }

    #[test]
    fn missing_job_title_renders_empty() {
        let template = Template::parse("Role: [{{job.title}}]").expect("valid");
        let values = MergeValues {
            job_title: None,
            ..values()
        };
        assert_eq!(template.render(&values), "Role: []");
    }

    #[test]
    fn repeated_fields_render_each_time_and_are_listed_once() {
        let template = Template::parse(
            "{{organization.name}}: {{candidate.first_name}}, {{ candidate.first_name }}! \
             {{organization.name}}",
        )
        .expect("valid");
        assert_eq!(template.render(&values()), "Acme Care: Ann, Ann! Acme Care");
        assert_eq!(
            template.fields(),
            [MergeField::OrganizationName, MergeField::CandidateFirstName]
        );
    }

    #[test]
    fn unknown_fields_are_refused_with_the_known_ones() {
        assert_eq!(
            Template::parse("Call {{candidate.phone}} now"),
            Err(Invalid::new(format!(
                "unknown merge field {{{{candidate.phone}}}}; {KNOWN}"
            )))
        );
        assert_eq!(
            Template::parse("{{ first_name }} {{x}} {{first_name}}"),
            Err(Invalid::new(format!(
                "unknown merge fields {{{{first_name}}}}, {{{{x}}}}; {KNOWN}"
            )))
        );
        assert_eq!(
            Template::parse("Hi {{}}"),
            Err(Invalid::new(format!(
                "unknown merge field {{{{}}}}; {KNOWN}"
            )))
        );
        assert!(Template::parse("{{Candidate.First_Name}}").is_err());
    }

    #[test]
    fn unclosed_braces_are_refused() {
        for body in [
            "Hi {{candidate.first_name",
            "Hi {{candidate.first_name}",
            "Hi {{",
            "{{job.title}} and {{ job.title",
            "Hi {{ {{candidate.first_name}}",
        ] {
            assert_eq!(Template::parse(body), Err(unclosed()), "{body:?}");
        }
    }

    #[test]
    fn other_braces_are_literal() {
        let template =
            Template::parse("{a} }} {x} {{{job.title}}} {{job.title}}}}").expect("valid");
        assert_eq!(template.render(&values()), "{a} }} {x} {Nurse} Nurse}}");
        assert_eq!(template.fields(), [MergeField::JobTitle]);
        let plain = Template::parse("No fields { here }").expect("valid");
        assert_eq!(plain.render(&values()), "No fields { here }");
        assert!(plain.fields().is_empty());
    }

    #[test]
    fn source_parses_back_to_the_same_template() {
        for body in [
            "Hi {{ candidate.first_name }}",
            "{{{job.title}}}",
            "{ {{job.title}} }",
            "{{{{organization.name}}}}",
            "plain text",
            "ends with {",
            "{{job.title}}",
        ] {
            let template = Template::parse(body).expect("valid");
            let again = Template::parse(&template.source()).expect("source is valid");
            assert_eq!(again, template, "{body:?}");
            assert_eq!(again.source(), template.source());
        }
        assert_eq!(
            Template::parse("{{{{organization.name}}}}").map(|t| t.render(&values())),
            Ok("{{Acme Care}}".to_owned())
        );
    }

    #[test]
    fn empty_and_long_bodies_are_refused() {
        assert_eq!(Template::parse(""), Err(Invalid::new("must not be empty")));
        assert_eq!(
            Template::parse(" \n "),
            Err(Invalid::new("must not be empty"))
        );
        assert!(Template::parse(&"é".repeat(Template::MAX_LENGTH)).is_ok());
        assert_eq!(
            Template::parse(&"é".repeat(Template::MAX_LENGTH + 1)),
            Err(Invalid::new("must be at most 2000 characters"))
        );
    }

    #[test]
    fn body_is_kept_as_written() {
        let body = "  Hi {{candidate.first_name}},\n\nThanks!  ";
        let template = Template::parse(body).expect("valid");
        assert_eq!(template.source(), body);
        assert_eq!(template.render(&values()), "  Hi Ann,\n\nThanks!  ");
    }
}
