//! What the linked images cost and contain, read from their ELF files.

use anyhow::{Context, Result};
use object::{Object, ObjectSection, ObjectSymbol};
use std::path::Path;

/// Section sizes of a firmware image, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImageSize {
    pub vector_table: u64,
    pub text: u64,
    pub rodata: u64,
    pub data: u64,
    pub bss: u64,
    pub uninit: u64,
}

impl ImageSize {
    /// Code and constants (model blob, inputs, expected outputs included): `.text + .rodata`.
    pub fn flash(&self) -> u64 {
        self.text + self.rodata
    }

    /// RAM reserved at link time (the arena is a static, so it is counted here): `.data + .bss`
    /// (+ `.uninit`, which cortex-m-rt keeps apart from `.bss`).
    pub fn static_ram(&self) -> u64 {
        self.data + self.bss + self.uninit
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading firmware image {}", path.display()))
}

fn parse<'a>(path: &Path, bytes: &'a [u8]) -> Result<object::File<'a>> {
    object::File::parse(bytes).with_context(|| format!("{}: not an ELF file", path.display()))
}

pub fn image_size(path: &Path) -> Result<ImageSize> {
    let bytes = read(path)?;
    let elf = parse(path, &bytes)?;
    let size_of = |name: &str| elf.section_by_name(name).map_or(0, |s| s.size());
    Ok(ImageSize {
        vector_table: size_of(".vector_table"),
        text: size_of(".text"),
        rodata: size_of(".rodata"),
        data: size_of(".data"),
        bss: size_of(".bss"),
        uninit: size_of(".uninit"),
    })
}

/// Address of a defined symbol (Thumb bit included, as in the symbol table).
pub fn symbol_address(path: &Path, name: &str) -> Result<u64> {
    let bytes = read(path)?;
    let elf = parse(path, &bytes)?;
    elf.symbols()
        .find(|s| s.is_definition() && s.name() == Ok(name))
        .map(|s| s.address())
        .with_context(|| format!("{}: symbol `{name}` not found", path.display()))
}

/// Size in bytes of every sized function symbol, by name.
pub fn function_sizes(path: &Path) -> Result<std::collections::BTreeMap<String, u64>> {
    let bytes = read(path)?;
    let elf = parse(path, &bytes)?;
    Ok(elf
        .symbols()
        .filter(|s| s.kind() == object::SymbolKind::Text && s.size() > 0)
        .filter_map(|s| Some((s.name().ok()?.to_owned(), s.size())))
        .collect())
}

/// True for the compiler-rt / compiler-builtins routines that emulate floating point in software
/// (ARM EABI names `__aeabi_f*` / `__aeabi_d*` and the generic libgcc names).
pub fn is_soft_float_routine(name: &str) -> bool {
    const GENERIC: [&str; 10] = ["sf3", "df3", "sf2", "df2", "sfsi", "dfsi", "sisf", "sidf", "sfdf2", "dfsf2"];
    if name.starts_with("__aeabi_f") || name.starts_with("__aeabi_d") {
        return true;
    }
    name.starts_with("__") && GENERIC.iter().any(|suffix| name.ends_with(suffix))
}

/// Every soft-float routine linked into the image (empty when the code needs no FPU).
pub fn soft_float_routines(path: &Path) -> Result<Vec<String>> {
    let bytes = read(path)?;
    let elf = parse(path, &bytes)?;
    let mut found: Vec<String> = elf
        .symbols()
        .filter(|s| s.is_definition())
        .filter_map(|s| s.name().ok())
        .filter(|name| is_soft_float_routine(name))
        .map(str::to_owned)
        .collect();
    found.sort();
    found.dedup();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::is_soft_float_routine;

    #[test]
    fn recognises_soft_float_names() {
        for name in ["__aeabi_fmul", "__aeabi_dadd", "__aeabi_f2iz", "__addsf3", "__muldf3", "__floatsisf", "__fixdfsi", "__gesf2", "__extendsfdf2"] {
            assert!(is_soft_float_routine(name), "{name}");
        }
        for name in ["__aeabi_idiv", "__aeabi_uldivmod", "__aeabi_lmul", "__aeabi_memcpy", "bench_mark", "main"] {
            assert!(!is_soft_float_routine(name), "{name}");
        }
    }
}
