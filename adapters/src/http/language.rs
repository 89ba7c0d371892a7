//! The caller's language: Indonesian or English, chosen by `Accept-Language` (a browser in
//! Indonesia sends `id-ID`), the configured default otherwise. Every message an answer carries is
//! written in both ([`Localized`]) and sent in the request's language; the `error` reasons are
//! the same in both.

use std::fmt;

use poem::http::header::{HeaderValue, ACCEPT_LANGUAGE, CONTENT_LANGUAGE, VARY};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};

/// The languages WarTawa speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    #[default]
    English,
    Indonesian,
}

tokio::task_local! {
    /// The language of the request being handled, for the messages made while handling it.
    static REQUEST_LANGUAGE: Language;
}

impl Language {
    /// `en` or `id` (a region after it, `id-ID`, is allowed).
    pub fn parse(tag: &str) -> Option<Language> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Language::English),
            "id" | "in" => Some(Language::Indonesian),
            _ => None,
        }
    }

    pub fn tag(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::Indonesian => "id",
        }
    }

    /// The language an `Accept-Language` header prefers among those spoken here, by weight
    /// (`q`), then order; `default` when it names none of them.
    pub fn negotiate(accept_language: Option<&str>, default: Language) -> Language {
        let Some(header) = accept_language else {
            return default;
        };
        let mut best: Option<(f32, Language)> = None;
        for range in header.split(',') {
            let mut parts = range.split(';');
            let tag = parts.next().unwrap_or_default();
            let weight = parts
                .find_map(|parameter| parameter.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())
                .unwrap_or(0.0);
            let language = if tag.trim() == "*" {
                Some(default)
            } else {
                Language::parse(tag)
            };
            if let Some(language) = language {
                if weight > 0.0 && best.is_none_or(|(best_weight, _)| weight > best_weight) {
                    best = Some((weight, language));
                }
            }
        }
        best.map_or(default, |(_, language)| language)
    }

    /// The language of the request being handled; English outside one.
    pub fn current() -> Language {
        REQUEST_LANGUAGE
            .try_with(|language| *language)
            .unwrap_or(Language::English)
    }
}

/// A sentence in both languages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Localized {
    pub english: String,
    pub indonesian: String,
}

impl Localized {
    pub fn new(english: impl Into<String>, indonesian: impl Into<String>) -> Self {
        Localized {
            english: english.into(),
            indonesian: indonesian.into(),
        }
    }

    pub fn in_language(&self, language: Language) -> &str {
        match language {
            Language::English => &self.english,
            Language::Indonesian => &self.indonesian,
        }
    }

    /// The sentence in the language of the request being handled.
    pub fn for_request(&self) -> String {
        self.in_language(Language::current()).to_string()
    }
}

impl fmt::Display for Localized {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.english)
    }
}

/// Handles each request in the language it asks for, and says which in `Content-Language`.
pub struct Negotiate {
    default: Language,
}

impl Negotiate {
    pub fn new(default: Language) -> Self {
        Negotiate { default }
    }
}

impl<E: Endpoint> Middleware<E> for Negotiate {
    type Output = NegotiateEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        NegotiateEndpoint {
            inner,
            default: self.default,
        }
    }
}

pub struct NegotiateEndpoint<E> {
    inner: E,
    default: Language,
}

impl<E: Endpoint> Endpoint for NegotiateEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Response> {
        let language = Language::negotiate(
            req.headers()
                .get(ACCEPT_LANGUAGE)
                .and_then(|value| value.to_str().ok()),
            self.default,
        );
        let outcome = REQUEST_LANGUAGE.scope(language, self.inner.call(req)).await;
        let mut response = match outcome {
            Ok(output) => output.into_response(),
            Err(error) => REQUEST_LANGUAGE.sync_scope(language, || error.into_response()),
        };
        response
            .headers_mut()
            .insert(CONTENT_LANGUAGE, HeaderValue::from_static(language.tag()));
        response
            .headers_mut()
            .append(VARY, HeaderValue::from_static("Accept-Language"));
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preferred_spoken_language_wins() {
        let en = Language::English;
        let id = Language::Indonesian;
        assert_eq!(Language::negotiate(None, en), en);
        assert_eq!(Language::negotiate(None, id), id);
        assert_eq!(Language::negotiate(Some("id-ID,id;q=0.9,en;q=0.8"), en), id);
        assert_eq!(Language::negotiate(Some("en-US,en;q=0.9,id;q=0.5"), id), en);
        assert_eq!(Language::negotiate(Some("fr-FR,id;q=0.3"), en), id);
        assert_eq!(Language::negotiate(Some("fr-FR"), id), id, "none spoken");
        assert_eq!(Language::negotiate(Some("en;q=0.2, id;q=0.8"), en), id);
        assert_eq!(Language::negotiate(Some("id;q=0"), en), en, "q=0 refuses");
        assert_eq!(Language::negotiate(Some("*"), id), id);
        assert_eq!(Language::negotiate(Some("garbage;;;q=x"), en), en);
    }
}
