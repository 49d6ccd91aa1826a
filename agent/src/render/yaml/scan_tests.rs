//! The hand-written reader ([`super::scan`]) against the event-based one ([`super::build`]):
//! wherever the first answers, it must answer exactly as the second does.

use super::{ParseOptions, build, scan};
use std::path::{Path, PathBuf};

fn limits(core_booleans: bool) -> ParseOptions {
    ParseOptions {
        core_booleans,
        ..ParseOptions::default()
    }
}

/// Whether the reader answers `text`; panics when its answer differs from the event-based
/// path's, with either boolean rule.
fn answers_alike(text: &str) -> bool {
    let mut answered = false;
    for core in [false, true] {
        let limits = limits(core);
        if let Some(fast) = scan::read(text, &limits) {
            assert_eq!(Some(fast), build::build(text, &limits), "{text:?}");
            answered = true;
        }
    }
    answered
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            yaml_files(&path, out);
        } else if kind.is_file()
            && path
                .extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        {
            out.push(path);
        }
    }
}

#[test]
fn reads_the_repository_yaml_files_as_the_event_based_path_does() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in ["tests/fixtures", "tests/corpus", "tests/data", "examples"] {
        yaml_files(&root.join(dir), &mut files);
    }
    let (mut total, mut answered, mut refused) = (0, 0, Vec::new());
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        if build::build(&text, &limits(false)).is_none() {
            continue;
        }
        total += 1;
        if answers_alike(&text) {
            answered += 1;
        } else {
            refused.push(file.display().to_string());
        }
    }
    println!(
        "the hand-written reader answered {answered} of {total} files the event-based path reads"
    );
    for file in refused.iter().take(20) {
        println!("refused: {file}");
    }
    assert!(total > 1000, "only {total} files found");
    assert!(
        answered * 100 >= total * 95,
        "answered {answered} of {total}"
    );
}

#[test]
fn reads_each_construct_as_the_event_based_path_does() {
    for text in include_str!("scan_cases.yaml").split("#=====\n") {
        assert!(answers_alike(text), "not answered: {text:?}");
    }
}

#[test]
fn gives_up_on_what_it_does_not_read() {
    for text in [
        "a: &x 1\nb: *x\n",
        "a: !!str 1\n",
        "<<: {a: 1}\n",
        "a: 1\na: 2\n",
        "1: a\n",
        "? a\n: b\n",
        "%YAML 1.2\n---\na: 1\n",
        "a:\n\tb: 1\n",
        "a: [1,\n  2]\n",
        "a: b: c\n",
        "  a: 1\n",
        "a: 1\n...\nb: 2\n",
        "a: 'unclosed\n",
        "a: \"\\q\"\n",
        "a: x\u{85}y\n",
        "a: 1\rb: 2\n",
    ] {
        assert!(scan::read(text, &limits(false)).is_none(), "{text:?}");
    }
}

#[test]
fn the_budgets_leave_the_wording_to_the_other_paths() {
    let deep = (0..70).fold(String::new(), |mut text, level| {
        text.push_str(&" ".repeat(level * 2));
        text.push_str("k:\n");
        text
    });
    assert!(scan::read(&deep, &ParseOptions::default()).is_none());
    let small = ParseOptions {
        max_nodes: 5,
        ..ParseOptions::default()
    };
    assert!(scan::read("a: 1\nb: 2\nc: 3\n", &small).is_none());
    let few = ParseOptions {
        max_documents: 2,
        ..ParseOptions::default()
    };
    assert!(scan::read("a: 1\n---\nb: 2\n---\nc: 3\n", &few).is_none());
    assert!(answers_alike("a: 1\n---\nb: 2\n"));
}

#[test]
fn reads_line_ends_and_the_end_of_the_input_as_the_event_based_path_does() {
    for text in [
        "key: |\n  a\n  b",
        "key: |",
        "key: >\n  a\n  b",
        "key: |-\n  a",
        "key: |+\n  a",
        "key: |\n  a\n\n",
        "key: |\n  a\n   ",
        "a: 1",
        "a: 'x'",
        "a:",
        "- a",
        "\u{feff}a: 1\n",
        "a: 1\r\nb: |\r\n  x\r\n  y\r\n",
        "a: \"x\r\n  y\"\r\n",
        "",
        "# only a comment\n",
        "\n\n",
    ] {
        assert!(answers_alike(text), "not answered: {text:?}");
    }
}

/// YAML fragments spliced into the cases by [`mutated_texts_read_alike`].
const FRAGMENTS: &[&str] = &[
    "- ", ": ", "\n", "\n  ", "\n- ", "|", "|-", "|+", "|2", ">", ">-", "'", "''", "\"", "\\x41",
    "\\", "# ", " #", "[", "]", "{", "}", ", ", "~", "null", "yes", "0x1F", "012", "1e3", "+12",
    "---\n", "...\n", " ", "  ", "\t", "\r\n", ":", "-", "a", "?", "é", "\\u00e9", "\\n", "\\ ",
];

/// A small deterministic fuzzer (xorshift): the cases with fragments inserted, bytes
/// deleted and pieces copied, read by both readers with small budgets.
#[test]
fn mutated_texts_read_alike() {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        usize::try_from(state % bound as u64).unwrap_or(0)
    };
    let cases: Vec<&str> = include_str!("scan_cases.yaml").split("#=====\n").collect();
    let small = |core_booleans| ParseOptions {
        core_booleans,
        max_depth: 12,
        max_documents: 20,
        max_nodes: 2000,
    };
    let mut answered = 0;
    for _ in 0..5000 {
        let mut bytes = cases[next(cases.len())].as_bytes().to_vec();
        for _ in 0..1 + next(4) {
            let at = next(bytes.len() + 1);
            match next(3) {
                0 => {
                    let fragment = FRAGMENTS[next(FRAGMENTS.len())];
                    bytes.splice(at..at, fragment.bytes());
                }
                1 => drop(bytes.drain(at..(at + 1 + next(8)).min(bytes.len()))),
                _ => {
                    let piece = bytes[at..(at + next(40)).min(bytes.len())].to_vec();
                    let to = next(bytes.len() + 1);
                    bytes.splice(to..to, piece);
                }
            }
        }
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        for core in [false, true] {
            if let Some(scanned) = scan::read(&text, &small(core)) {
                answered += 1;
                assert_eq!(Some(scanned), build::build(&text, &small(core)), "{text:?}");
            }
        }
    }
    assert!(answered > 1000, "answered only {answered}");
}
