//! Property tests: encrypt then decrypt gives back the document, through every text store.

use proptest::prelude::*;

use super::*;

/// A test-only description of a document (secret types implement neither Debug nor Clone).
#[derive(Clone, Debug)]
enum Spec {
    Str(String),
    Int(i64),
    Bool(bool),
    Float(f64),
    Null,
    Seq(Vec<Spec>),
    Map(Vec<(String, Spec)>),
}

fn build(spec: &Spec) -> Node {
    match spec {
        Spec::Str(s) => Node::text(s),
        Spec::Int(i) => Node::Scalar(Scalar::Int(*i)),
        Spec::Bool(b) => Node::Scalar(Scalar::Bool(*b)),
        Spec::Float(f) => Node::Scalar(Scalar::Float(*f)),
        Spec::Null => Node::Scalar(Scalar::Null),
        Spec::Seq(items) => Node::Seq(items.iter().map(build).collect()),
        Spec::Map(entries) => {
            let mut b = Branch::new();
            for (k, v) in entries {
                b.set(k, build(v));
            }
            Node::Map(b)
        }
    }
}

fn spec() -> impl Strategy<Value = Spec> {
    let leaf = prop_oneof![
        "[ -~]{0,20}".prop_map(Spec::Str),
        "[a-z\u{e9}\u{2713}\n ]{1,20}".prop_map(Spec::Str),
        any::<i64>().prop_map(Spec::Int),
        any::<bool>().prop_map(Spec::Bool),
        (-1.0e30f64..1.0e30).prop_map(Spec::Float),
        Just(Spec::Null),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Spec::Seq),
            prop::collection::vec(("[a-z_]{1,8}", inner), 0..4).prop_map(Spec::Map),
        ]
    })
}

fn document() -> impl Strategy<Value = (Vec<(String, Spec)>, Vec<String>)> {
    (
        prop::collection::vec(("[a-z_]{1,8}", spec()), 1..5),
        prop::collection::vec("[ -~]{0,10}", 0..2),
    )
}

fn build_document(entries: &[(String, Spec)], comments: &[String]) -> Branch {
    let mut b = Branch::new();
    for c in comments {
        b.items.push(MapItem::Comment(Secret::from_text(c)));
    }
    for (k, v) in entries {
        b.set(k, build(v));
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn encrypt_then_decrypt_gives_back_the_document((entries, comments) in document(), json in any::<bool>()) {
        let doc = build_document(&entries, &comments);
        let id = age::x25519::Identity::generate();
        let recipient = id.to_public().to_string();
        let mut ids = Identities::new();
        ids.push(id);
        let format = if json { Format::Json } else { Format::Yaml };
        // The expected plaintext is the document read back from its own emitted form.
        let plain = emit_plain(&Tree::single(doc), format).expect("emits");
        let tree = parse_plain(&plain, format).expect("reads its own output");
        // JSON numbers are floats in sops, so compare with the document as read back.
        let plain = emit_plain(&parse_plain(&plain, format).expect("reads"), format).expect("emits");
        let options = EncryptOptions { key_groups: vec![vec![KeyRef::Age(recipient)]], shamir_threshold: 0, rule: Rule::default(), mac_only_encrypted: false };
        let enc = encrypt(tree, &options).expect("encrypts").to_bytes(format).expect("writes");
        let back = decrypt_bytes(&enc, format, &ids).expect("decrypts");
        prop_assert_eq!(String::from_utf8_lossy(&back), String::from_utf8_lossy(&plain));
    }
}
