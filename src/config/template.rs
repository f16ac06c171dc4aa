//! The commented template `xnai init` writes. It loads as-is (no accounts yet); every example
//! is commented out so nothing needs an environment variable before the user edits it.

/// The template text.
pub const TEMPLATE: &str = r#"# xnai credential file — keep it private: xnai refuses to read it when other users can.
# Layout: credentials.<provider>.accounts.<account>. Providers whose id is not a kind
# (opencode, copilot, cline, xnai_iam, claude, codex, gemini, local_llm) need `kind:`.
#
# Values may use ${VAR} or ${VAR:-default}; they are filled from the environment after the
# YAML is parsed. An environment variable XNAI_<PROVIDER>_<ACCOUNT>_<FIELD> overrides a field,
# e.g. XNAI_OPENCODE_ACCOUNT_1_OAUTH_TOKEN.
#
# After editing: `xnai accounts` lists what was loaded, `xnai check` validates every token.

credentials:
  # opencode:                       # OpenCode / Antigravity, Google OAuth
  #   isolation_method: xdg_data_home
  #   accounts:
  #     account_1:
  #       name: "Account 1"
  #       auth_method: oauth
  #       provider: google
  #       oauth_token: ${XNAI_OPENCODE_ACCOUNT_1_OAUTH_TOKEN}
  #       token_expiry: "2027-12-31T00:00:00Z"
  #       models: [gemini-3-pro, claude-sonnet-4-5]
  #
  # copilot:                        # GitHub Copilot (ghu_/gho_/ghp_ tokens)
  #   accounts:
  #     work:
  #       github_user: octocat
  #       oauth_token: ${XNAI_COPILOT_WORK_OAUTH_TOKEN}
  #
  # cline:                          # single account: fields directly under the provider
  #   auth_method: api_key
  #   api_key: ${XNAI_CLINE_ANTHROPIC_API_KEY}
  #
  # xnai_iam:                       # JWT; set one key to verify its signature
  #   access_token: ${XNAI_IAM_ACCESS_TOKEN}
  #   public_key_path: ~/.config/xnai/iam-public.pem   # or jwks_path, or jwt_secret (HS256)
  #
  # claude:
  #   accounts:
  #     max:
  #       oauth_token: ${XNAI_CLAUDE_MAX_OAUTH_TOKEN}   # sk-ant-oat01-...
  #       token_expiry: "2027-01-01T00:00:00Z"
  #
  # local_llm:
  #   auth_method: none
  #   models: [qwen2.5-coder-7b]

token_validation:
  enabled: true
  refresh_buffer_minutes: 5         # "expiring soon" inside this window

dispatch_config:
  weights: {quota: 0.4, latency: 0.3, context_fit: 0.3}
  fallback_chain: []                # e.g. [opencode, copilot, cline, local_llm]

quota_management:
  timezone: UTC
  alert_thresholds:
    warning_percentage: 80
    critical_percentage: 90
  quotas: {}
  # quotas:
  #   copilot: [{limit: 50, unit: messages, window: monthly, reset_day: 1}]

security:
  file_permissions: "0600"
  external_api_calls: false

metadata:
  version: "2.0"
"#;
