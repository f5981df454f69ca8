//! text -> (model, diagnostics). Parsers never panic and never fail outright: they return what
//! they could read plus diagnostics with file:line:column. nom stays inside this folder.
