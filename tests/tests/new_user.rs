//! The defects a new user meets on a first try, each against the real binaries: a
//! `secretGenerator` over a longer file, YAML alias bombs in SOPS-shaped files, failed syncs
//! that left no log line, a closed stdout, errors quoting huge input, the default render
//! root, the admin listener, `createNamespace` in the inventory, and a `KUBECONFIG` list.

#[allow(dead_code)]
#[path = "daemon/support.rs"]
mod support;

#[path = "new_user/admin.rs"]
mod admin;
#[path = "new_user/alias_bomb.rs"]
mod alias_bomb;
#[path = "new_user/closed_pipe.rs"]
mod closed_pipe;
#[path = "new_user/dry_run.rs"]
mod dry_run;
#[path = "new_user/failed_sync.rs"]
mod failed_sync;
#[path = "new_user/generator.rs"]
mod generator;
#[path = "new_user/kubeconfig.rs"]
mod kubeconfig;
#[path = "new_user/long_input.rs"]
mod long_input;
#[path = "new_user/namespace.rs"]
mod namespace;
#[path = "new_user/render_root.rs"]
mod render_root;
