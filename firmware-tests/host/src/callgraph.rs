//! Which routines a function of a linked image can reach, from its disassembly (`llvm-objdump`
//! of the rustup component `llvm-tools`): direct calls and tail calls between symbols. Indirect
//! calls through registers (function pointers, vtables) are not followed. A function's extent is
//! its symbol's size, so the padding between functions (0xd4d4, which disassembles as a branch)
//! adds no false edges.

use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Direct call edges between the functions of an image.
pub struct CallGraph {
    callees: BTreeMap<String, BTreeSet<String>>,
}

/// `llvm-objdump` of the active Rust toolchain.
fn llvm_objdump() -> Result<PathBuf> {
    let rustc = |args: &[&str]| -> Result<String> {
        let out = Command::new("rustc").args(args).output().context("running rustc")?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let sysroot = rustc(&["--print", "sysroot"])?;
    let verbose = rustc(&["-vV"])?;
    let host = verbose.lines().find_map(|l| l.strip_prefix("host: ")).context("rustc -vV names no host")?;
    let tool = Path::new(sysroot.trim()).join("lib/rustlib").join(host.trim()).join("bin/llvm-objdump");
    if !tool.is_file() {
        bail!("{} not found: install it with `rustup component add llvm-tools`", tool.display());
    }
    Ok(tool)
}

impl CallGraph {
    pub fn of_image(elf: &Path) -> Result<CallGraph> {
        let output = Command::new(llvm_objdump()?)
            .args(["--disassemble", "--no-show-raw-insn"])
            .arg(elf)
            .output()
            .context("running llvm-objdump")?;
        if !output.status.success() {
            bail!("llvm-objdump failed on {}: {}", elf.display(), String::from_utf8_lossy(&output.stderr));
        }
        Ok(CallGraph::parse(&String::from_utf8_lossy(&output.stdout), &crate::elf::function_sizes(elf)?))
    }

    /// Reads `llvm-objdump -d` text: `ADDR <symbol>:` starts a function (which spans
    /// `sizes[symbol]` bytes, when known); a branch whose target is printed as `<other>` or
    /// `<other+0x..>` in another function is a call or a tail call.
    pub fn parse(disassembly: &str, sizes: &BTreeMap<String, u64>) -> CallGraph {
        let mut callees: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut current: Option<(String, u64)> = None; // (name, end address)
        for line in disassembly.lines() {
            if let Some((start, name)) = line.strip_suffix(">:").and_then(|l| l.split_once(" <")) {
                let start = u64::from_str_radix(start.trim(), 16).unwrap_or(0);
                let end = sizes.get(name).map_or(u64::MAX, |size| start + size);
                current = Some((name.to_owned(), end));
                callees.entry(name.to_owned()).or_default();
                continue;
            }
            let Some((function, end)) = &current else { continue };
            let mut fields = line.split('\t').map(str::trim).filter(|f| !f.is_empty());
            let (Some(address), Some(mnemonic)) = (fields.next(), fields.next()) else { continue };
            let address = u64::from_str_radix(address.trim_end_matches(':'), 16).unwrap_or(u64::MAX);
            if address >= *end || !mnemonic.starts_with('b') {
                continue;
            }
            let Some(target) = line.split_once('<').and_then(|(_, t)| t.split_once('>')).map(|(t, _)| t) else {
                continue;
            };
            let target = target.split_once('+').map_or(target, |(name, _)| name);
            if target != function {
                callees.entry(function.clone()).or_default().insert(target.to_owned());
            }
        }
        CallGraph { callees }
    }

    pub fn contains(&self, function: &str) -> bool {
        self.callees.contains_key(function)
    }

    /// Every function reachable from `root` (itself included) with, for each, the caller it was
    /// first reached from.
    fn reachable(&self, root: &str) -> BTreeMap<String, Option<String>> {
        let mut parent = BTreeMap::from([(root.to_owned(), None)]);
        let mut queue = VecDeque::from([root.to_owned()]);
        while let Some(function) = queue.pop_front() {
            for callee in self.callees.get(&function).into_iter().flatten() {
                if !parent.contains_key(callee) {
                    parent.insert(callee.clone(), Some(function.clone()));
                    queue.push_back(callee.clone());
                }
            }
        }
        parent
    }

    /// Functions reachable from `root` for which `wanted` holds, each with a call path from `root`.
    pub fn reachable_matching(&self, root: &str, wanted: impl Fn(&str) -> bool) -> Vec<(String, Vec<String>)> {
        let parent = self.reachable(root);
        parent
            .keys()
            .filter(|f| wanted(f))
            .map(|f| {
                let mut path = vec![f.clone()];
                while let Some(Some(caller)) = parent.get(path.last().expect("non-empty")) {
                    path.push(caller.clone());
                }
                path.reverse();
                (f.clone(), path)
            })
            .collect()
    }

    pub fn reachable_count(&self, root: &str) -> usize {
        self.reachable(root).len()
    }
}

#[cfg(test)]
mod tests {
    use super::CallGraph;

    const DISASSEMBLY: &str = "\
00000100 <root>:
     100:      \tpush\t{r7, lr}
     102:      \tbl\t0x200 <helper>          @ imm = #0xfc
     106:      \tbne\t0x100 <root>           @ imm = #-0xa
     108:      \tb.w\t0x300 <tail+0x4>       @ imm = #0x1f4
     10c:      \tblx\tr3
00000200 <helper>:
     200:      \tbl\t0x400 <__aeabi_dmul>    @ imm = #0x1fc
00000300 <tail>:
     300:      \tbx\tlr
00000400 <__aeabi_dmul>:
     400:      \tbx\tlr
     402:      \tbmi\t0x500 <unreached+0x2>    @ padding after the function
00000500 <unreached>:
     500:      \tbl\t0x600 <__aeabi_fadd>    @ imm = #0xfc
";

    #[test]
    fn follows_calls_and_tail_calls_only_from_the_root() {
        let sizes = [("__aeabi_dmul".to_owned(), 2)].into_iter().collect();
        let graph = CallGraph::parse(DISASSEMBLY, &sizes);
        assert_eq!(graph.reachable_count("root"), 4);
        let found = graph.reachable_matching("root", |f| f.starts_with("__aeabi"));
        assert_eq!(found, vec![("__aeabi_dmul".to_owned(), vec!["root".to_owned(), "helper".to_owned(), "__aeabi_dmul".to_owned()])]);
        assert!(graph.reachable_matching("tail", |f| f.starts_with("__aeabi")).is_empty());
    }
}
