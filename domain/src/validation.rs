//! Field-level validation problems, collected so that a client learns of all of them at once.

use std::fmt;

/// One problem with one input field, shown to people as `"field: problem"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub problem: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

/// Every problem found in one request. Never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq, Default, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct ValidationErrors(Vec<FieldError>);

impl ValidationErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn single(field: impl Into<String>, problem: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, problem);
        errors
    }

    pub fn add(&mut self, field: impl Into<String>, problem: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            problem: problem.into(),
        });
    }

    /// Runs a parse and records its problem under `field`, keeping the value when it parsed.
    pub fn check<T, E: fmt::Display>(&mut self, field: &str, parsed: Result<T, E>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(problem) => {
                self.add(field, problem.to_string());
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn errors(&self) -> &[FieldError] {
        &self.0
    }

    /// `Ok(value)` when nothing was recorded, the collected problems otherwise.
    pub fn into_result<T>(self, value: impl FnOnce() -> T) -> Result<T, ValidationErrors> {
        if self.is_empty() {
            Ok(value())
        } else {
            Err(self)
        }
    }
}

/// The problem with control characters (a NUL byte, an escape, a line break where one line is
/// expected): no field stores them, and PostgreSQL cannot store a NUL at all.
pub const CONTROL_CHARACTERS: &str = "must not contain control characters";

/// Refuses control characters; `multiline` text may still hold line breaks and tabs.
pub fn without_control_characters(value: &str, multiline: bool) -> Result<(), String> {
    let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
    if value.chars().any(|c| c.is_control() && !allowed(c)) {
        Err(CONTROL_CHARACTERS.to_string())
    } else {
        Ok(())
    }
}

/// How long a text may be, in characters: at least `min` once the spaces around it are trimmed,
/// and at most `max` as it was sent (what a schema's `minLength` and `maxLength` say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextLength {
    pub min: usize,
    pub max: usize,
}

impl TextLength {
    pub const fn new(min: usize, max: usize) -> Self {
        TextLength { min, max }
    }
}

/// Checks a one-line text: no control characters, and its length; returns the trimmed text.
pub fn text_of_length(value: &str, length: TextLength) -> Result<String, String> {
    without_control_characters(value, false)?;
    length_between(value, length)
}

/// As [`text_of_length`], for text that may run over several lines (a description).
pub fn multiline_text_of_length(value: &str, length: TextLength) -> Result<String, String> {
    without_control_characters(value, true)?;
    length_between(value, length)
}

fn length_between(value: &str, TextLength { min, max }: TextLength) -> Result<String, String> {
    let trimmed = value.trim();
    if trimmed.chars().count() < min {
        Err(if min == 1 {
            "must not be empty".to_string()
        } else {
            format!("must be at least {min} characters")
        })
    } else if value.chars().count() > max {
        Err(format!("must be at most {max} characters"))
    } else {
        Ok(trimmed.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_every_problem_in_order() {
        let mut errors = ValidationErrors::new();
        errors.add("name", "must not be empty");
        errors.add("email", "is not a valid email address");
        assert_eq!(
            errors.to_string(),
            "name: must not be empty; email: is not a valid email address"
        );
        assert!(errors.into_result(|| ()).is_err());
    }

    #[test]
    fn text_length_counts_characters_trimmed_for_the_least_and_as_sent_for_the_most() {
        let three_to_seven = TextLength::new(3, 7);
        assert_eq!(
            text_of_length("  Ari  ", three_to_seven),
            Ok("Ari".to_string())
        );
        assert_eq!(
            text_of_length("  Ar   ", three_to_seven),
            Err("must be at least 3 characters".to_string())
        );
        assert_eq!(
            text_of_length(" Ariana ", three_to_seven),
            Err("must be at most 7 characters".to_string()),
            "the spaces around count towards the most, as a schema's maxLength counts them"
        );
        assert_eq!(
            text_of_length("Éléa", TextLength::new(3, 4)),
            Ok("Éléa".to_string())
        );
        assert_eq!(
            text_of_length("", TextLength::new(1, 4)),
            Err("must not be empty".to_string())
        );
    }

    #[test]
    fn control_characters_are_refused_and_only_descriptions_keep_line_breaks() {
        for hostile in [
            "Ari\0",
            "A\u{1b}[31mri",
            "Ari\nBudi",
            "Ari\u{7f}",
            "Ari\u{85}",
        ] {
            assert_eq!(
                text_of_length(hostile, TextLength::new(1, 50)),
                Err(CONTROL_CHARACTERS.to_string()),
                "{hostile:?}"
            );
        }
        assert_eq!(
            multiline_text_of_length("One line.\r\n\tAnother.", TextLength::new(0, 50)),
            Ok("One line.\r\n\tAnother.".to_string())
        );
        assert!(multiline_text_of_length("Nul\0", TextLength::new(0, 50)).is_err());
    }
}
