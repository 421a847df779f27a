//! Helpers shared by the integration tests of the workspace.
