//! Processes as /proc shows them: whose child a process is, and whether it is still alive.

use std::time::Duration;

use crate::eventually;

/// Processes whose parent is `pid`, from /proc.
pub fn children_of(pid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| parent_of(*p) == Some(pid))
        .collect()
}

/// Live processes whose command line contains `text`.
pub fn processes_mentioning(text: &str) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| is_alive(*p) && cmdline(*p).contains(text))
        .collect()
}

/// Children of `pid`, their children, and so on.
pub fn descendants_of(pid: i32) -> Vec<i32> {
    let mut found = children_of(pid);
    let mut i = 0;
    while i < found.len() {
        found.extend(children_of(found[i]));
        i += 1;
    }
    found
}

/// The parent pid of `pid`, or None if it is gone.
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ...": comm may contain spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Whether `pid` is still a live process (a zombie awaiting its reaper counts as gone).
pub fn is_alive(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 2..].chars().next())
        .unwrap_or('X');
    !matches!(state, 'Z' | 'X')
}

/// Waits until none of `pids` is alive, or panics naming the survivors.
pub async fn assert_all_gone(pids: &[i32], timeout: Duration, what: &str) {
    eventually(timeout, what, || async {
        let alive: Vec<i32> = pids.iter().copied().filter(|p| is_alive(*p)).collect();
        alive.is_empty().then_some(())
    })
    .await;
}

/// The command line of `pid`, for messages.
pub fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}
