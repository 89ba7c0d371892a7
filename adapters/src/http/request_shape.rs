//! Requests checked against the OpenAPI document before an operation reads them.
//!
//! A body that is not JSON at all is `malformed_json`. A body, query parameter or path parameter
//! that does not have the shape the document gives it (a required field missing or `null`, a
//! value of the wrong JSON type, a fraction where a whole number belongs) is `validation_failed`,
//! with every problem listed at once as `"field: problem"` (`"phases[1].price: must be a whole
//! number"`). The document is what is checked, so what it says and what is refused cannot
//! disagree; the rules on values (lengths, ranges, dates) are the domain's, checked after.

use std::collections::HashMap;
use std::sync::Arc;

use poem::http::{Method, StatusCode};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};
use serde_json::{Map, Value};

use domain::validation::ValidationErrors;

use super::error::{ApiFailure, ErrorReason};
use super::language::Localized;

/// The operations of the OpenAPI document, by path and method, with what they take.
pub struct DocumentIndex {
    paths: Vec<DocumentPath>,
    /// `components.schemas`, for the `$ref`s of the operations' bodies.
    schemas: Map<String, Value>,
}

struct DocumentPath {
    /// As the document writes it: `/api/bookings/{code}/pay`.
    template: String,
    segments: Vec<Segment>,
    operations: HashMap<Method, Operation>,
}

enum Segment {
    Fixed(String),
    Parameter(String),
}

#[derive(Default)]
struct Operation {
    path_parameters: HashMap<String, Value>,
    query_parameters: HashMap<String, Value>,
    body: Option<Value>,
}

pub(crate) fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|segment| !segment.is_empty())
}

impl DocumentIndex {
    /// Reads an OpenAPI document (JSON).
    pub fn from_document(document: &str) -> Self {
        let document: Value = serde_json::from_str(document).unwrap_or_default();
        let paths = document["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(path, operations)| DocumentPath {
                template: path.clone(),
                segments: segments(path)
                    .map(|segment| {
                        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                            Some(name) => Segment::Parameter(name.to_string()),
                            None => Segment::Fixed(segment.to_string()),
                        }
                    })
                    .collect(),
                operations: operations
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(method, operation)| {
                        let method = Method::from_bytes(method.to_uppercase().as_bytes()).ok()?;
                        Some((method, Operation::from_document(operation)))
                    })
                    .collect(),
            })
            .collect();
        DocumentIndex {
            paths,
            schemas: document["components"]["schemas"]
                .as_object()
                .cloned()
                .unwrap_or_default(),
        }
    }

    /// The document's path that `path` is, as the router would choose it (fixed segments
    /// preferred to parameters), with the values of its parameters.
    fn path_of(&self, path: &str) -> Option<(&DocumentPath, HashMap<&str, String>)> {
        let requested: Vec<&str> = segments(path).collect();
        self.paths
            .iter()
            .filter_map(|candidate| {
                let fit = candidate.fit(&requested)?;
                Some((fit, candidate))
            })
            .max_by(|(one, _), (other, _)| one.cmp(other))
            .map(|(_, candidate)| {
                let values = candidate
                    .segments
                    .iter()
                    .zip(&requested)
                    .filter_map(|(segment, given)| match segment {
                        Segment::Parameter(name) => Some((name.as_str(), percent_decoded(given))),
                        Segment::Fixed(_) => None,
                    })
                    .collect();
                (candidate, values)
            })
    }

    /// The document's path template that `path` is (`/api/bookings/{code}/pay`), for logs and
    /// metrics: a label that does not grow with the codes and ids requested.
    pub fn template_of(&self, path: &str) -> Option<&str> {
        self.path_of(path).map(|(path, _)| path.template.as_str())
    }

    /// The methods the path of `path` takes, for `Allow`.
    pub fn methods_of(&self, path: &str) -> Option<Vec<&Method>> {
        self.path_of(path)
            .map(|(path, _)| path.operations.keys().collect())
    }
}

impl DocumentPath {
    /// How well this path matches a request's segments: `None` when it does not; otherwise one
    /// flag per segment, true where a fixed segment matched.
    fn fit(&self, request: &[&str]) -> Option<Vec<bool>> {
        if self.segments.len() != request.len() {
            return None;
        }
        self.segments
            .iter()
            .zip(request)
            .map(|(segment, given)| match segment {
                Segment::Fixed(fixed) => (fixed == given).then_some(true),
                Segment::Parameter(_) => Some(false),
            })
            .collect()
    }
}

impl Operation {
    fn from_document(operation: &Value) -> Operation {
        let mut this = Operation::default();
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            let (Some(name), Some(location)) =
                (parameter["name"].as_str(), parameter["in"].as_str())
            else {
                continue;
            };
            let schema = parameter["schema"].clone();
            match location {
                "path" => {
                    this.path_parameters.insert(name.to_string(), schema);
                }
                "query" => {
                    this.query_parameters.insert(name.to_string(), schema);
                }
                _ => {}
            }
        }
        this.body = operation["requestBody"]["content"]
            .as_object()
            .and_then(|content| {
                content
                    .iter()
                    .find(|(media_type, _)| media_type.starts_with("application/json"))
            })
            .map(|(_, media)| media["schema"].clone());
        this
    }
}

fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|b| (*b as char).to_digit(16));
        match (bytes[index], hex(index + 1), hex(index + 2)) {
            (b'%', Some(high), Some(low)) => {
                decoded.push((high * 16 + low) as u8);
                index += 3;
            }
            (byte, _, _) => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// The schema a `$ref` names, or the schema itself.
fn resolve<'s>(schemas: &'s Map<String, Value>, schema: &'s Value) -> &'s Value {
    schema["$ref"]
        .as_str()
        .and_then(|reference| reference.strip_prefix("#/components/schemas/"))
        .and_then(|name| schemas.get(name))
        .unwrap_or(schema)
}

/// The problems of a request against the document's schemas, each as `"field: problem"`.
struct Problems<'a> {
    schemas: &'a Map<String, Value>,
    errors: ValidationErrors,
}

impl Problems<'_> {
    fn add(&mut self, field: &str, problem: &str) {
        let field = if field.is_empty() { "body" } else { field };
        self.errors.add(field, problem);
    }

    /// Checks a JSON value (`None`: left out) against `schema`, at `field`.
    fn check(&mut self, schema: &Value, value: &Value, field: &str) {
        let schema = resolve(self.schemas, schema);
        if value.is_null() {
            if schema["nullable"] != Value::Bool(true) {
                self.add(field, "is required");
            }
            return;
        }
        match schema["type"].as_str() {
            Some("object") => {
                let Some(object) = value.as_object() else {
                    self.add(field, "must be an object");
                    return;
                };
                let required: Vec<&str> = schema["required"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                let properties = schema["properties"].as_object();
                for (name, property) in properties.into_iter().flatten() {
                    let at = if field.is_empty() {
                        name.clone()
                    } else {
                        format!("{field}.{name}")
                    };
                    match object.get(name) {
                        None if required.contains(&name.as_str()) => self.add(&at, "is required"),
                        None => {}
                        Some(Value::Null) if required.contains(&name.as_str()) => {
                            self.add(&at, "is required")
                        }
                        Some(property_value) => self.check(property, property_value, &at),
                    }
                }
            }
            Some("array") => {
                let Some(items) = value.as_array() else {
                    self.add(field, "must be a list");
                    return;
                };
                for (index, item) in items.iter().enumerate() {
                    self.check(&schema["items"], item, &format!("{field}[{index}]"));
                }
            }
            Some("string") if !value.is_string() => self.add(field, "must be text"),
            Some("boolean") if !value.is_boolean() => self.add(field, "must be true or false"),
            Some("integer") if !is_whole_number(value, schema["format"].as_str()) => {
                self.add(field, "must be a whole number")
            }
            Some("number") if !value.is_number() => self.add(field, "must be a number"),
            _ => {}
        }
    }

    /// Checks a parameter's text against its schema.
    fn check_text(&mut self, schema: &Value, text: &str, field: &str) {
        let schema = resolve(self.schemas, schema);
        let fits = match schema["type"].as_str() {
            Some("integer") => match schema["format"].as_str() {
                Some("uint32") => text.parse::<u32>().is_ok(),
                Some("int32") => text.parse::<i32>().is_ok(),
                Some("uint64") => text.parse::<u64>().is_ok(),
                _ => text.parse::<i64>().is_ok(),
            },
            Some("boolean") => matches!(text, "true" | "false"),
            Some("number") => text.parse::<f64>().is_ok(),
            _ => true,
        };
        if !fits {
            let problem = match schema["type"].as_str() {
                Some("boolean") => "must be true or false",
                Some("number") => "must be a number",
                _ => whole_number_problem(schema["format"].as_str()),
            };
            self.add(field, problem);
        }
    }
}

fn whole_number_problem(format: Option<&str>) -> &'static str {
    match format {
        Some("uint32") => "must be a whole number from 0 to 4294967295",
        _ => "must be a whole number",
    }
}

/// Whether a JSON value is a whole number that fits the schema's integer format.
fn is_whole_number(value: &Value, format: Option<&str>) -> bool {
    let Some(number) = value.as_number() else {
        return false;
    };
    match format {
        Some("uint32") => number.as_u64().is_some_and(|n| n <= u64::from(u32::MAX)),
        Some("int32") => number.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        Some("uint64") => number.as_u64().is_some(),
        _ => number.as_i64().is_some(),
    }
}

/// Checks every request against the document before its operation sees it.
pub struct RequestShape {
    index: Arc<DocumentIndex>,
}

impl RequestShape {
    pub fn new(index: Arc<DocumentIndex>) -> Self {
        RequestShape { index }
    }
}

impl<E: Endpoint> Middleware<E> for RequestShape {
    type Output = RequestShapeEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestShapeEndpoint {
            inner,
            index: self.index.clone(),
        }
    }
}

pub struct RequestShapeEndpoint<E> {
    inner: E,
    index: Arc<DocumentIndex>,
}

impl<E: Endpoint> Endpoint for RequestShapeEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Response> {
        let Some((path, values)) = self.index.path_of(req.uri().path()) else {
            return self.inner.call(req).await.map(IntoResponse::into_response);
        };
        let Some(operation) = path.operations.get(req.method()) else {
            return self.inner.call(req).await.map(IntoResponse::into_response);
        };
        let mut problems = Problems {
            schemas: &self.index.schemas,
            errors: ValidationErrors::new(),
        };
        for (name, value) in &values {
            if let Some(schema) = operation.path_parameters.get(*name) {
                problems.check_text(schema, value, name);
            }
        }
        let query: Vec<(String, String)> =
            serde_urlencoded::from_str(req.uri().query().unwrap_or_default()).unwrap_or_default();
        for (name, value) in &query {
            if let Some(schema) = operation.query_parameters.get(name) {
                problems.check_text(schema, value, name);
            }
        }
        if let Some(schema) = &operation.body {
            let body = req.take_body().into_bytes().await.unwrap_or_default();
            if !body.is_empty() || problems.errors.is_empty() {
                match serde_json::from_slice::<Value>(&body) {
                    Ok(value) => problems.check(schema, &value, ""),
                    Err(_) if body.iter().all(u8::is_ascii_whitespace) => {
                        problems.add("body", "is required: send a JSON object")
                    }
                    Err(error) => {
                        return Ok(ApiFailure::new(
                            StatusCode::BAD_REQUEST,
                            ErrorReason::MalformedJson,
                            Localized::new(
                                format!(
                                    "The request body is not valid JSON (line {}, column {})",
                                    error.line(),
                                    error.column()
                                ),
                                format!(
                                    "Isi permintaan bukan JSON yang valid (baris {}, kolom {})",
                                    error.line(),
                                    error.column()
                                ),
                            ),
                        )
                        .into_response())
                    }
                }
            }
            req.set_body(body);
        }
        if !problems.errors.is_empty() {
            return Ok(ApiFailure::bad_request(&problems.errors).into_response());
        }
        self.inner.call(req).await.map(IntoResponse::into_response)
    }
}
