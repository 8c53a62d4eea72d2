//! Placeholder: the config helper fills this module.
