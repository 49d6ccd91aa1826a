//! Tests of the YAML reader: typing, comments, and the bounds on untrusted input.

use super::*;

fn kind(s: &str) -> String {
    match resolve_plain(s) {
        Ok(Scalar::Null) => "null".into(),
        Ok(Scalar::Str(_)) => "str".into(),
        Ok(Scalar::Int(i)) => format!("int {i}"),
        Ok(Scalar::Float(f)) => format!("float {f}"),
        Ok(Scalar::Bool(b)) => format!("bool {b}"),
        Ok(Scalar::Time(t)) => format!("time {}", t.expose_str().unwrap_or_default()),
        Err(_) => "error".into(),
    }
}

#[test]
fn plain_scalars_resolve_like_go_yaml_v3() {
    assert_eq!(kind("0644"), "int 420");
    assert_eq!(kind("0o17"), "int 15");
    assert_eq!(kind("0x1F"), "int 31");
    assert_eq!(kind("1_000"), "int 1000");
    assert_eq!(kind("1e+21"), "float 1000000000000000000000");
    assert_eq!(
        kind("99999999999999999999999"),
        "float 100000000000000000000000"
    );
    assert_eq!(kind("18446744073709551615"), "error");
    assert_eq!(kind("08"), "float 8");
    assert_eq!(kind("yes"), "str");
    assert_eq!(kind("on"), "str");
    assert_eq!(kind("True"), "bool true");
    assert_eq!(kind("~"), "null");
    assert_eq!(kind(".5"), "float 0.5");
    assert_eq!(kind("2024-01-02"), "time 2024-01-02T00:00:00Z");
    assert_eq!(kind("-"), "str");
}

#[test]
fn comments_keep_their_places() {
    let docs = parse("# top\na: 1 # inline\nb:\n  # under b\n  c: 2\n  # foot of b\nd: 3\n")
        .expect("parses");
    let doc = &docs[0];
    let shape: Vec<String> = doc
        .items
        .iter()
        .map(|i| match i {
            MapItem::Comment(c) => format!("#{}", c.expose_str().unwrap_or_default()),
            MapItem::Entry(k, _) => k.clone(),
        })
        .collect();
    assert_eq!(shape, ["# top", "# inline", "a", "b", "d"]);
    let Some(Node::Map(b)) = doc.get("b") else {
        panic!("b is a map")
    };
    assert_eq!(b.items.len(), 3);
}

#[test]
fn fail_alias_bombs_are_bounded() {
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    let names = ["b", "c", "d", "e", "f", "g", "h"];
    let mut prev = "a";
    for n in names {
        bomb.push_str(&format!("{n}: &{n} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        prev = n;
    }
    assert!(parse(&bomb).is_err());
}

#[test]
fn fail_aliases_of_a_long_string_are_bounded_by_bytes() {
    // 1,000 aliases of a 1 MiB string: few nodes, a gigabyte once expanded.
    let long = "x".repeat(1024 * 1024);
    let aliases = vec!["*a"; 1000].join(", ");
    let text = format!("a: &a {long}\nb: [{aliases}]\n");
    let err = parse(&text).err().expect("refused");
    let message = err.to_string();
    assert!(message.contains("alias expansion exceeds"), "{message}");
    // A few aliases of it are still read.
    let text = format!("a: &a {long}\nb: [*a, *a]\n");
    assert!(parse(&text).is_ok());
}

#[test]
fn fail_errors_quote_a_huge_key_cut_short() {
    let key = "k".repeat(1_000_000);
    let err = parse(&format!("? {key}\n:\n  a: 1\n  a: 2\n"))
        .err()
        .expect("refused");
    let message = err.to_string();
    assert!(message.len() < 1024, "{} bytes", message.len());
    assert!(message.contains("(1000000 bytes)"), "{}", &message[..300]);
}

#[test]
fn fail_duplicate_keys_are_refused() {
    assert!(parse("a: 1\na: 2\n").is_err());
}
