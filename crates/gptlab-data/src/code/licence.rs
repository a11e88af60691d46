//! The licence of a source file, guessed from what its project ships: the nearest directory,
//! from the file's own up to its `--src` root, that holds a package manifest with a licence
//! field or a licence file decides.
//!
//! In one directory a manifest's field wins, since it is already an SPDX expression: Cargo's
//! `license = "MIT OR Apache-2.0"` (under `[package]` or `[workspace.package]`) or npm's
//! `"license": "MIT"` in package.json. Otherwise each licence file (a name starting with
//! LICENSE, LICENCE, COPYING or UNLICENSE, any case, alone or followed by `.`, `-` or `_`:
//! LICENSE, LICENSE.txt, LICENSE-MIT, COPYING.LESSER) is read and recognised by its wording
//! (see [`identify`]); several recognised files are joined with " OR " (Rust's LICENSE-MIT and
//! LICENSE-APACHE), and "unknown" stands for files that were found but not recognised.
//!
//! The ids are SPDX's where the text tells the version (GPL-2.0, LGPL-2.1, ...); this is a
//! guess from a few phrases of each licence, not a licence scanner, and it does not look at
//! headers inside source files.

use std::path::Path;

/// Whether `name` is a licence file's name (see the module docs).
pub fn is_licence_file(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let stem = ["license", "licence", "copying", "unlicense"].iter().any(|stem| {
        lower.strip_prefix(stem).is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '-', '_']))
    });
    // not a program about licences (license.py, licence_check.sh)
    let ext = lower.rsplit_once('.').map(|(_, e)| e);
    stem && !ext.is_some_and(|e| super::Lang::of_file(&lower).is_some() || NOT_LICENCE_EXTENSIONS.contains(&e))
}

/// Extensions of files that are not licence texts, besides those of [`super::Lang`].
const NOT_LICENCE_EXTENSIONS: &[&str] = &["sh", "bat", "ps1", "json", "toml", "yml", "yaml", "xml", "cfg", "ini", "in", "lock", "rb", "pl", "php", "cs", "kt", "swift", "scala"];

/// Phrases that name a licence, each with its id; the one found earliest in a text wins, so
/// that a licence's title beats the other licences its body mentions (GPL-3.0 names the AGPL,
/// MPL-2.0 names the GPL and LGPL as "Secondary Licenses").
const PHRASES: &[(&str, &str)] = &[
    ("gnu affero general public license", "AGPL-3.0"),
    ("gnu lesser general public license", "LGPL"),
    ("gnu library general public license", "LGPL"),
    ("gnu general public license", "GPL"),
    ("mozilla public license", "MPL-2.0"),
    ("apache license", "Apache-2.0"),
    ("python software foundation license", "PSF-2.0"),
    ("free and unencumbered software released into the public domain", "Unlicense"),
    ("permission to use, copy, modify, and/or distribute this software for any purpose", "ISC"),
    ("isc license", "ISC"),
    ("redistribution and use in source and binary forms", "BSD"),
    ("permission is hereby granted, free of charge, to any person obtaining a copy", "MIT"),
    ("mit license", "MIT"),
];

/// An SPDX-ish id for a licence text, or `None` when none of the known wordings is in it.
pub fn identify(text: &str) -> Option<String> {
    // lower case with runs of white space folded, so wrapped lines still match
    let norm = text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    let (pos, id) = PHRASES.iter().filter_map(|(p, id)| norm.find(p).map(|i| (i, *id))).min_by_key(|(i, _)| *i)?;
    let mut end = norm.len().min(pos + 300);
    while !norm.is_char_boundary(end) {
        end -= 1;
    }
    let after = &norm[pos..end];
    let id = match id {
        "LGPL" => if after.contains("version 3") { "LGPL-3.0" } else { "LGPL-2.1" },
        "GPL" => {
            if after.contains("version 3") {
                "GPL-3.0"
            } else if after.contains("version 2") {
                "GPL-2.0"
            } else if norm.contains("version 3") {
                "GPL-3.0"
            } else {
                "GPL-2.0"
            }
        }
        "MPL-2.0" if !after.contains("2.0") => "MPL-1.1",
        "BSD" => {
            if norm.contains("neither the name") || norm.contains("endorse or promote") {
                "BSD-3-Clause"
            } else {
                "BSD-2-Clause"
            }
        }
        other => other,
    };
    Some(id.to_string())
}

/// The `license = "..."` value of a Cargo.toml's `[package]` or `[workspace.package]` table.
pub fn cargo_license(toml: &str) -> Option<String> {
    let mut in_package = false;
    for line in toml.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = matches!(line, "[package]" | "[workspace.package]");
            continue;
        }
        if !in_package {
            continue;
        }
        let Some(rest) = line.strip_prefix("license") else { continue };
        let Some(value) = rest.trim_start().strip_prefix('=') else { continue };
        let value = value.trim();
        for q in ['"', '\''] {
            if let Some(inner) = value.strip_prefix(q).and_then(|v| v.split(q).next()) {
                if !inner.trim().is_empty() {
                    return Some(inner.trim().to_string());
                }
            }
        }
    }
    None
}

/// The `"license"` string of a package.json.
pub fn npm_license(json: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let s = v.get("license")?.as_str()?.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// Largest part of a licence file that is read.
const MAX_LICENCE_BYTES: u64 = 256 * 1024;

fn read_small(path: &Path) -> Option<String> {
    use std::io::Read;
    let f = std::fs::File::open(path).ok()?;
    let mut bytes = vec![];
    f.take(MAX_LICENCE_BYTES).read_to_end(&mut bytes).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The licence declared in directory `dir`, whose file names (sorted) are `files`, or `None`
/// when it has no manifest licence field and no licence file.
pub fn of_directory(dir: &Path, files: &[String]) -> Option<String> {
    for name in files {
        let parse: fn(&str) -> Option<String> = match name.as_str() {
            "Cargo.toml" => cargo_license,
            "package.json" => npm_license,
            _ => continue,
        };
        if let Some(id) = read_small(&dir.join(name)).and_then(|t| parse(&t)) {
            return Some(id);
        }
    }
    let mut ids: Vec<String> = vec![];
    let mut found = false;
    for name in files.iter().filter(|n| is_licence_file(n)) {
        found = true;
        if let Some(id) = read_small(&dir.join(name)).and_then(|t| identify(&t)) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    // COPYING + COPYING.LESSER: the GPL text ships beside the LGPL it is part of
    if ids.iter().any(|i| i.starts_with("LGPL")) {
        ids.retain(|i| !i.starts_with("GPL"));
    }
    match (found, ids.is_empty()) {
        (false, _) => None,
        (true, true) => Some("unknown".to_string()),
        (true, false) => Some(ids.join(" OR ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licence_file_names() {
        for n in ["LICENSE", "license.txt", "LICENSE-MIT", "LICENCE.md", "COPYING", "COPYING.LESSER", "UNLICENSE", "License_APACHE"] {
            assert!(is_licence_file(n), "{n}");
        }
        for n in ["licenses.py", "license_checker.rs", "license.py", "licence_check.sh", "LICENSE.json", "LICENSEE", "README", "copyright.txt"] {
            assert!(!is_licence_file(n), "{n}");
        }
    }

    #[test]
    fn identifies_common_licences_by_their_wording() {
        let mit = "MIT License\n\nCopyright (c) 2020 A\n\nPermission is hereby granted, free of charge, to any person\nobtaining a copy of this software";
        let apache = "                              Apache License\n                        Version 2.0, January 2004\n";
        let bsd3 = "Copyright (c) X\nRedistribution and use in source and binary forms, with or without\nmodification, are permitted ... 3. Neither the name of the copyright holder nor ...";
        let bsd2 = "Copyright (c) X\nRedistribution and use in source and binary forms, with or without modification, are permitted provided that ...";
        let gpl3 = "GNU GENERAL PUBLIC LICENSE\nVersion 3, 29 June 2007\n ... 13. Use with the GNU Affero General Public License.";
        let gpl2 = "GNU GENERAL PUBLIC LICENSE\n Version 2, June 1991";
        let lgpl = "GNU LESSER GENERAL PUBLIC LICENSE\nVersion 3, 29 June 2007\nThis version of the GNU Lesser General Public License incorporates the terms of version 3 of the GNU General Public License";
        let mpl = "Mozilla Public License Version 2.0\n ... \"Secondary License\" means either the GNU General Public License, Version 2.0, the GNU Lesser General Public License";
        let psf = "A. HISTORY\nPython ... GPL-compatible ...\nPYTHON SOFTWARE FOUNDATION LICENSE VERSION 2\n... GNU General Public License (GPL)";
        let isc = "ISC License\n\nPermission to use, copy, modify, and/or distribute this software for any\npurpose with or without fee is hereby granted";
        let unlicense = "This is free and unencumbered software released into the public domain.";
        for (text, want) in [(mit, "MIT"), (apache, "Apache-2.0"), (bsd3, "BSD-3-Clause"), (bsd2, "BSD-2-Clause"), (gpl3, "GPL-3.0"), (gpl2, "GPL-2.0"), (lgpl, "LGPL-3.0"), (mpl, "MPL-2.0"), (psf, "PSF-2.0"), (isc, "ISC"), (unlicense, "Unlicense")] {
            assert_eq!(identify(text).as_deref(), Some(want), "{text}");
        }
        assert_eq!(identify("All rights reserved."), None);
    }

    #[test]
    fn manifest_fields() {
        let cargo = "[package]\nname = \"x\"\nlicense-file = \"LICENSE\"\nlicense = \"MIT OR Apache-2.0\"\n[dependencies]\nlicense = \"1\"\n";
        assert_eq!(cargo_license(cargo).as_deref(), Some("MIT OR Apache-2.0"));
        assert_eq!(cargo_license("[package]\nlicense.workspace = true\n"), None);
        assert_eq!(cargo_license("[dependencies]\nlicense = \"1\"\n"), None);
        assert_eq!(cargo_license("[workspace.package]\nlicense = 'BSD-3-Clause'\n").as_deref(), Some("BSD-3-Clause"));
        assert_eq!(npm_license("{\"name\": \"x\", \"license\": \"ISC\"}").as_deref(), Some("ISC"));
        assert_eq!(npm_license("{\"license\": {\"type\": \"MIT\"}}"), None);
    }

    #[test]
    fn a_directory_joins_its_licence_files_and_prefers_its_manifest() -> std::io::Result<()> {
        let d = tempfile::tempdir()?;
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        std::fs::write(d.path().join("LICENSE-APACHE"), "Apache License\nVersion 2.0, January 2004")?;
        std::fs::write(d.path().join("LICENSE-MIT"), "Permission is hereby granted, free of charge, to any person obtaining a copy")?;
        std::fs::write(d.path().join("COPYING"), "Some custom terms")?;
        assert_eq!(of_directory(d.path(), &names(&["LICENSE-APACHE", "LICENSE-MIT"])).as_deref(), Some("Apache-2.0 OR MIT"));
        assert_eq!(of_directory(d.path(), &names(&["COPYING"])).as_deref(), Some("unknown"));
        assert_eq!(of_directory(d.path(), &names(&["a.py"])), None);
        std::fs::write(d.path().join("Cargo.toml"), "[package]\nlicense = \"Zlib\"\n")?;
        assert_eq!(of_directory(d.path(), &names(&["COPYING", "Cargo.toml", "LICENSE-MIT"])).as_deref(), Some("Zlib"));
        Ok(())
    }
}
