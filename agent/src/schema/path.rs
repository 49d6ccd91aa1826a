//! The path of a field inside an object, written as kubectl writes it:
//! `spec.template.spec.containers[0].ports[0].containerPort`, keys that are not plain
//! identifiers quoted (`metadata.labels["app.kubernetes.io/name"]`).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// A field path under construction (push on the way down, pop on the way up).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(Vec<Segment>);

impl FieldPath {
    /// The object's root.
    #[must_use]
    pub fn root() -> Self {
        Self::default()
    }

    /// Descends into a key.
    pub fn push_key(&mut self, key: &str) {
        self.0.push(Segment::Key(key.to_owned()));
    }

    /// Descends into a list item.
    pub fn push_index(&mut self, index: usize) {
        self.0.push(Segment::Index(index));
    }

    /// Goes back up one step.
    pub fn pop(&mut self) {
        self.0.pop();
    }
}

fn is_plain(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'$')
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(root)");
        }
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if is_plain(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(key)?;
                }
                Segment::Key(key) => {
                    let shown: String = key.chars().take(100).collect();
                    write!(f, "[{shown:?}]")?;
                }
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_as_kubectl_writes_them() {
        let mut path = FieldPath::root();
        assert_eq!(path.to_string(), "(root)");
        for key in ["spec", "template", "spec", "containers"] {
            path.push_key(key);
        }
        path.push_index(0);
        path.push_key("ports");
        path.push_index(1);
        path.push_key("containerPort");
        assert_eq!(
            path.to_string(),
            "spec.template.spec.containers[0].ports[1].containerPort"
        );
        let mut labels = FieldPath::root();
        labels.push_key("metadata");
        labels.push_key("labels");
        labels.push_key("app.kubernetes.io/name");
        assert_eq!(
            labels.to_string(),
            "metadata.labels[\"app.kubernetes.io/name\"]"
        );
    }
}
