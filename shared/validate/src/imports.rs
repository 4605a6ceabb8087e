//! Import rules: the module allowlist, denied and private submodules, relative and star
//! imports, and the names a `from ... import` brings in (forbidden builtins, dunders,
//! file-I/O functions). Records imported modules and bound names for the metadata and the
//! dispatch check.

use ruff_python_ast::{self as ast, name::Name};
use ruff_text_size::Ranged;

use super::checker::{Checker, off};
use super::rules::RuleId;
use super::tables::{allowed_top_module, denied_module, forbidden_builtin, guarded_builtin, is_dunder};

impl Checker<'_> {
    /// `import a.b.c as d`.
    pub(super) fn check_import(&mut self, imp: &ast::StmtImport) {
        for alias in &imp.names {
            let at = off(alias.start());
            let module = self.norm(alias.name.as_str(), at).into_owned();
            self.record_import(&module);
            self.check_module(&module, at);
            let bound = match &alias.asname {
                Some(asname) => {
                    self.check_binding(asname.as_str(), at, false);
                    asname.to_string()
                }
                None => module.split('.').next().unwrap_or_default().to_owned(),
            };
            let bound = Name::new(bound);
            self.imported.push(bound.clone());
            self.defined.push(bound);
        }
    }

    /// `from m import a as b` (and the relative and star forms).
    pub(super) fn check_import_from(&mut self, imp: &ast::StmtImportFrom) {
        let at = off(imp.start());
        let level = imp.level;
        let module = imp.module.as_ref().map(|m| self.norm(m.as_str(), at).into_owned()).unwrap_or_default();
        if level > 0 {
            let dots = ".".repeat(level as usize);
            self.report(
                RuleId::ImportNotAllowed,
                at,
                format!("relative import 'from {dots}{module} import ...' is not allowed"),
            );
            return;
        }
        self.record_import(&module);
        if !self.check_module(&module, at) {
            return;
        }
        for alias in &imp.names {
            let at = off(alias.start());
            let name = self.norm(alias.name.as_str(), at).into_owned();
            if name == "*" {
                self.report(
                    RuleId::StarImport,
                    at,
                    format!("'from {module} import *' is not allowed; import names explicitly"),
                );
                continue;
            }
            let full = format!("{module}.{name}");
            if let Some(denied) = denied_module(&full) {
                self.report(
                    RuleId::ImportNotAllowed,
                    at,
                    format!("import of '{full}' is not allowed ({denied} is denied)"),
                );
            } else if forbidden_builtin(&name) || guarded_builtin(&name) {
                self.report(RuleId::ForbiddenName, at, format!("importing '{name}' is not allowed"));
            } else if name.starts_with('_') && !is_dunder(&name) && module != "__future__" {
                self.report(
                    RuleId::ImportNotAllowed,
                    at,
                    format!("import of private name '{full}' is not allowed"),
                );
            } else {
                self.check_attr(&name, None, at, "importing");
            }
            match &alias.asname {
                Some(asname) => {
                    self.check_binding(asname.as_str(), at, false);
                    self.imported.push(asname.id.clone());
                    self.defined.push(asname.id.clone());
                }
                None => {
                    let name = Name::new(name);
                    self.imported.push(name.clone());
                    self.defined.push(name);
                }
            }
        }
    }

    /// Allowlist check of a dotted module path; false when refused.
    fn check_module(&mut self, module: &str, at: usize) -> bool {
        let top = module.split('.').next().unwrap_or_default();
        if !allowed_top_module(top) {
            self.report(RuleId::ImportNotAllowed, at, format!("import of '{module}' is not allowed"));
            return false;
        }
        if let Some(denied) = denied_module(module) {
            self.report(
                RuleId::ImportNotAllowed,
                at,
                format!("import of '{module}' is not allowed ({denied} is denied)"),
            );
            return false;
        }
        if module.split('.').skip(1).any(|part| part.starts_with('_')) {
            self.report(
                RuleId::ImportNotAllowed,
                at,
                format!("import of private module '{module}' is not allowed"),
            );
            return false;
        }
        true
    }

    fn record_import(&mut self, module: &str) {
        if !module.is_empty() && !self.imports.iter().any(|m| m == module) {
            self.imports.push(module.to_owned());
        }
    }
}
