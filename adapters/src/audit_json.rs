//! Audit details as JSON, as the HTTP API shows them and the database stores them.

use serde_json::Value;

use domain::audit::AuditValue;

/// One detail of an audit entry as a JSON value.
pub(crate) fn audit_value_json(value: &AuditValue) -> Value {
    match value {
        AuditValue::Text(text) => Value::from(text.as_str()),
        AuditValue::Number(number) => Value::from(*number),
    }
}
