//! The JSON spelling of values, one for every JSON that runlog writes (the server's read API, the web UI's API, the
//! CLI's `--json`): numbers as numbers, and the floats JSON has no number for as the strings `"NaN"`, `"Infinity"`
//! and `"-Infinity"` (what JavaScript's `Number()` and Python's `float()` parse back).

use crate::batch::WireValue;
use serde_json::Value;

/// A float as JSON: a number, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
pub fn float(f: f64) -> Value {
    if let Some(n) = serde_json::Number::from_f64(f) {
        Value::Number(n)
    } else if f.is_nan() {
        "NaN".into()
    } else if f > 0.0 {
        "Infinity".into()
    } else {
        "-Infinity".into()
    }
}

/// The float a JSON value spells: a number, or one of the strings [`float`] writes (`"inf"` and `"-inf"` are read
/// too, as older runlogs wrote them). None for anything else.
pub fn parse_float(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" | "inf" => Some(f64::INFINITY),
            "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// A wire value as JSON (floats through [`float`]).
pub fn value(v: &WireValue) -> Value {
    match v {
        WireValue::Bool(b) => (*b).into(),
        WireValue::Int(i) => (*i).into(),
        WireValue::Float(f) => float(*f),
        WireValue::Str(s) => s.clone().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_float_round_trips_through_its_spelling() {
        for f in [0.5, -3.0, 1e300, f64::MIN_POSITIVE, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(parse_float(&float(f)), Some(f), "{f}");
        }
        assert!(parse_float(&float(f64::NAN)).is_some_and(f64::is_nan));
        assert_eq!(float(f64::INFINITY), Value::from("Infinity"));
        assert_eq!(float(f64::NEG_INFINITY), Value::from("-Infinity"));
        assert_eq!(parse_float(&Value::from("inf")), Some(f64::INFINITY));
        assert_eq!(parse_float(&Value::from("x")), None);
        assert_eq!(value(&WireValue::Str("Infinity".into())), Value::from("Infinity"));
    }
}
