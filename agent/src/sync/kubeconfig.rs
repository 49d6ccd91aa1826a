//! Reading a kubeconfig as kubectl does, including a `KUBECONFIG`-style list of files
//! (`a:b`), merged by kubectl's rules (through `kube`'s [`Kubeconfig::merge`]): the first file
//! to set a value wins (`current-context`, preferences), clusters, users and contexts are
//! merged by name with the first definition kept whole, and a file of the list that does not
//! exist is skipped, as kubectl skips it.

use std::path::{Path, PathBuf};

use kube::config::Kubeconfig;

use super::client::ClientError;

/// The files a kubeconfig setting names: one path, or several separated as in `PATH`
/// (`:` on Unix); empty entries are ignored.
#[must_use]
pub fn paths(value: &Path) -> Vec<PathBuf> {
    std::env::split_paths(value.as_os_str())
        .filter(|p| !p.as_os_str().is_empty())
        .collect()
}

/// Reads and merges the kubeconfig files `value` names (see [`paths`]). In a list, missing
/// files are skipped; a single file, or a list of which none exists, is an error naming it.
pub fn read(value: &Path) -> Result<Kubeconfig, ClientError> {
    let files = paths(value);
    let read_one = |file: &Path| {
        Kubeconfig::read_from(file).map_err(|source| ClientError::ReadKubeconfig {
            path: file.to_owned(),
            source,
        })
    };
    let existing: Vec<&PathBuf> = files.iter().filter(|f| f.exists()).collect();
    if files.len() <= 1 || existing.is_empty() {
        return read_one(files.first().map_or(value, PathBuf::as_path));
    }
    existing
        .into_iter()
        .try_fold(Kubeconfig::default(), |merged, file| {
            let next = read_one(file)?;
            merged
                .merge(next)
                .map_err(|source| ClientError::ReadKubeconfig {
                    path: file.clone(),
                    source,
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn the_first_file_to_set_a_value_or_a_name_wins() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let a = file(
            dir.path(),
            "a",
            "apiVersion: v1\nkind: Config\nclusters:\n- name: shared\n  cluster: {server: 'https://a.example'}\ncontexts: []\nusers: []\n",
        );
        let b = file(
            dir.path(),
            "b",
            "apiVersion: v1\nkind: Config\ncurrent-context: from-b\nclusters:\n- name: shared\n  cluster: {server: 'https://b.example'}\n- name: only-b\n  cluster: {server: 'https://only-b.example'}\ncontexts:\n- name: from-b\n  context: {cluster: shared, user: u}\nusers:\n- name: u\n  user: {token: t}\n",
        );
        let missing = dir.path().join("missing");
        let list = std::env::join_paths([&a, &missing, &b]).expect("join");
        let merged = read(Path::new(&list)).expect("merged");
        assert_eq!(merged.current_context.as_deref(), Some("from-b"));
        let servers: Vec<(String, Option<String>)> = merged
            .clusters
            .iter()
            .map(|c| {
                let server = c.cluster.as_ref().and_then(|c| c.server.clone());
                (c.name.clone(), server)
            })
            .collect();
        assert_eq!(
            servers,
            [
                ("shared".to_owned(), Some("https://a.example".to_owned())),
                (
                    "only-b".to_owned(),
                    Some("https://only-b.example".to_owned())
                ),
            ]
        );
        assert!(read(&missing).is_err());
        let none = std::env::join_paths([&missing, &missing]).expect("join");
        assert!(read(Path::new(&none)).is_err());
    }
}
