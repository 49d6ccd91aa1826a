//! `.helmignore`: the rules Helm applies when it loads a chart directory (Go's
//! `filepath.Match` patterns, `!` negation, a trailing `/` for directories, a leading `/`
//! anchored at the chart root, patterns without `/` matching the base name).

/// One rule of a `.helmignore` file.
#[derive(Debug, Clone)]
struct Rule {
    pattern: String,
    negate: bool,
    dir_only: bool,
    /// Match the whole path (the pattern has a `/`) rather than the base name.
    full_path: bool,
}

/// The parsed rules of a chart's `.helmignore`, plus Helm's default
/// (`templates/.?*`: hidden files in templates are never templates).
#[derive(Debug, Clone)]
pub(crate) struct IgnoreRules {
    rules: Vec<Rule>,
}

impl IgnoreRules {
    /// Parses `.helmignore` text; a bad pattern fails with its line.
    pub(crate) fn parse(text: &str) -> Result<IgnoreRules, String> {
        let mut rules = IgnoreRules { rules: Vec::new() };
        for (index, line) in text.lines().enumerate() {
            rules
                .add(line)
                .map_err(|reason| format!("line {}: {reason}", index + 1))?;
        }
        rules.add("templates/.?*")?;
        Ok(rules)
    }

    fn add(&mut self, line: &str) -> Result<(), String> {
        let mut rule = line.trim();
        if rule.is_empty() || rule.starts_with('#') {
            return Ok(());
        }
        if rule.contains("**") {
            return Err("double-star (**) syntax is not supported".into());
        }
        if go_match(rule, "abc").is_err() {
            return Err(format!("syntax error in pattern {rule:?}"));
        }
        let negate = rule.starts_with('!');
        if negate {
            rule = &rule[1..];
        }
        let dir_only = rule.ends_with('/');
        let rule = rule.trim_end_matches('/');
        let (pattern, full_path) = match rule.strip_prefix('/') {
            Some(anchored) => (anchored.to_owned(), true),
            None => (rule.to_owned(), rule.contains('/')),
        };
        self.rules.push(Rule {
            pattern,
            negate,
            dir_only,
            full_path,
        });
        Ok(())
    }

    /// Whether `path` (relative to the chart root) is ignored.
    pub(crate) fn ignored(&self, path: &str, is_dir: bool) -> bool {
        if path.is_empty() || path == "." {
            return false;
        }
        for rule in &self.rules {
            let subject = if rule.full_path {
                path
            } else {
                path.rsplit('/').next().unwrap_or(path)
            };
            let matched = go_match(&rule.pattern, subject).unwrap_or(false);
            if rule.negate {
                if rule.dir_only && !is_dir {
                    return true;
                }
                if !matched {
                    return true;
                }
                continue;
            }
            if rule.dir_only && !is_dir {
                continue;
            }
            if matched {
                return true;
            }
        }
        false
    }
}

/// Go's `path.Match`: `*` (no `/`), `?`, `[...]` classes with ranges and `^` negation,
/// `\` escapes. `Err` for a malformed pattern.
pub(crate) fn go_match(pattern: &str, name: &str) -> Result<bool, ()> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n)
}

fn match_from(p: &[char], n: &[char]) -> Result<bool, ()> {
    let (mut pi, mut ni) = (0, 0);
    // Backtracking point for the last `*`: pattern index after it, name index.
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi + 1, ni));
                    pi += 1;
                    continue;
                }
                '?' if ni < n.len() && n[ni] != '/' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' if ni < n.len() => {
                    let (ok, len) = match_class(&p[pi..], n[ni])?;
                    if ok {
                        pi += len;
                        ni += 1;
                        continue;
                    }
                }
                '\\' => {
                    let c = *p.get(pi + 1).ok_or(())?;
                    if ni < n.len() && n[ni] == c {
                        pi += 2;
                        ni += 1;
                        continue;
                    }
                }
                c if c != '[' && c != '?' && ni < n.len() && n[ni] == c => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' => {
                    match_class(&p[pi..], 'a')?;
                }
                _ => {}
            }
        } else if ni == n.len() {
            return Ok(true);
        }
        // Mismatch: let the last `*` eat one more character (never a `/`).
        match star {
            Some((sp, sn)) if sn < n.len() && n[sn] != '/' => {
                star = Some((sp, sn + 1));
                pi = sp;
                ni = sn + 1;
            }
            _ => {
                // Validate the rest of the pattern, as Go reports bad patterns.
                validate(&p[pi.min(p.len())..])?;
                return Ok(false);
            }
        }
    }
}

fn validate(p: &[char]) -> Result<(), ()> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '[' => i += match_class(&p[i..], 'a')?.1,
            '\\' => i += 2,
            _ => i += 1,
        }
    }
    if p.last() == Some(&'\\') && p.len() % 2 == 1 {
        return Err(());
    }
    Ok(())
}

/// Matches `c` against the class at the start of `p` (`[...]`); returns the match and the
/// class's length in the pattern.
fn match_class(p: &[char], c: char) -> Result<(bool, usize), ()> {
    let mut i = 1;
    let negated = p.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let lo = *p.get(i).ok_or(())?;
        if lo == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        let lo = if lo == '\\' {
            i += 1;
            *p.get(i).ok_or(())?
        } else {
            lo
        };
        i += 1;
        let mut hi = lo;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|&x| x != ']') {
            i += 1;
            hi = *p.get(i).ok_or(())?;
            if hi == '\\' {
                i += 1;
                hi = *p.get(i).ok_or(())?;
            }
            i += 1;
        }
        if lo <= c && c <= hi {
            matched = true;
        }
    }
    Ok((matched != negated, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_match_follows_path_match() {
        assert_eq!(go_match("*.txt", "a.txt"), Ok(true));
        assert_eq!(go_match("*.txt", "d/a.txt"), Ok(false));
        assert_eq!(go_match("a?c", "abc"), Ok(true));
        assert_eq!(go_match("[a-c]x", "bx"), Ok(true));
        assert_eq!(go_match("[^a-c]x", "bx"), Ok(false));
        assert_eq!(go_match(".*", ".git"), Ok(true));
        assert_eq!(go_match("*", ""), Ok(true));
        assert!(go_match("[a-", "a").is_err());
    }

    #[test]
    fn helmignore_rules_apply_as_helm_applies_them() {
        let rules = IgnoreRules::parse("# c\n.git/\n*.tmp\n/ci/\ndocs/*.md\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(rules.ignored(".git", true));
        assert!(!rules.ignored(".git", false));
        assert!(rules.ignored("templates/x.tmp", false));
        assert!(rules.ignored("ci", true));
        assert!(!rules.ignored("sub/ci", true));
        assert!(rules.ignored("docs/a.md", false));
        assert!(rules.ignored("templates/.hidden", false));
        assert!(!rules.ignored("templates/a.yaml", false));
        assert!(IgnoreRules::parse("a/**/b\n").is_err());
    }
}
