//! Tests of the condition language.

use super::*;

fn holds(text: &str, result: Value) -> Result<bool, ExprError> {
    Condition::parse(text)?.holds(&result)
}

fn vector(values: &[f64]) -> Value {
    Value::List(values.iter().map(|v| Value::Number(*v)).collect())
}

#[test]
fn argo_style_conditions_on_a_vector_hold_or_not() {
    assert_eq!(holds("result[0] >= 0.99", vector(&[0.995])), Ok(true));
    assert_eq!(holds("result[0] >= 0.99", vector(&[0.5])), Ok(false));
    assert_eq!(
        holds("len(result) == 0 || result[0] < 0.05", vector(&[])),
        Ok(true)
    );
    assert_eq!(
        holds(
            "result[0] > 0.1 and not (result[1] == 2)",
            vector(&[0.2, 3.0])
        ),
        Ok(true)
    );
    assert_eq!(holds("result[-1] == 3", vector(&[1.0, 3.0])), Ok(true));
    assert_eq!(holds("isNaN(result)", Value::Number(f64::NAN)), Ok(true));
    assert_eq!(
        holds("result * 100 - 1 >= 98", Value::Number(0.99)),
        Ok(true)
    );
}

#[test]
fn json_results_are_read_by_field_and_key() {
    let json = serde_json::json!({"status": "ok", "checks": [{"pass": true}], "ratio": 0.5});
    let v = Value::from_json(&json);
    assert_eq!(
        holds(
            "result.status == \"ok\" && result.checks[0].pass",
            v.clone()
        ),
        Ok(true)
    );
    assert_eq!(holds("result['ratio'] < 1", v.clone()), Ok(true));
    assert_eq!(holds("default(result.missing, 3) == 3", v), Ok(true));
}

#[test]
fn evaluation_errors_name_the_problem_instead_of_panicking() {
    let err = holds("result[0] > 1", vector(&[])).expect_err("out of range");
    assert!(err.to_string().contains("out of range"), "{err}");
    let err = holds("result > 1", Value::Str("x".into())).expect_err("type");
    assert!(err.to_string().contains("compare a string"), "{err}");
    let err = holds("result[0]", vector(&[1.0])).expect_err("not a boolean");
    assert!(err.to_string().contains("expected a boolean"), "{err}");
    let err = holds("foo > 1", vector(&[1.0])).expect_err("unknown name");
    assert!(err.to_string().contains("unknown name foo"), "{err}");
    assert!(matches!(
        holds("nope(1)", Value::Nil),
        Err(ExprError::Eval(_))
    ));
}

#[test]
fn syntax_errors_and_oversized_conditions_are_refused() {
    assert!(matches!(
        parse("result[0] >="),
        Err(ExprError::Syntax { .. })
    ));
    assert!(matches!(parse("(result"), Err(ExprError::Syntax { .. })));
    assert!(matches!(parse("result ~ 1"), Err(ExprError::Syntax { .. })));
    assert!(matches!(parse("'open"), Err(ExprError::Syntax { .. })));
    assert!(matches!(parse("1 2"), Err(ExprError::Syntax { .. })));
    let deep = format!("{}1{}", "(".repeat(40), ")".repeat(40));
    assert!(matches!(parse(&deep), Err(ExprError::TooLarge(_))));
    let bangs = format!("{}true", "!".repeat(40));
    assert!(matches!(parse(&bangs), Err(ExprError::TooLarge(_))));
    let long = "1 + ".repeat(300) + "1";
    assert!(matches!(parse(&long), Err(ExprError::TooLarge(_))));
    let many = vec!["1"; 200].join("+");
    assert!(matches!(parse(&many), Err(ExprError::TooLarge(_))));
}
