"""Staff users, tokens, sessions, MFA, platforms and the audit trail.

**Passwords** are hashed with Argon2id at explicit parameters (:data:`PASSWORD_HASH_PARAMS`): 64 MiB of
memory, 3 passes, 1 lane. That is above the OWASP Password Storage Cheat Sheet's minimum (19 MiB, 2
passes, 1 lane, or its equivalents such as 46 MiB and 1 pass), which OWASP ASVS 5.0 requirement 11.4.2
(level 2) points to as "current guidance", and it is RFC 9106's second recommended profile in memory and
passes. Hashes made with weaker parameters are upgraded at the next login. The password policy
(:func:`validate_password`) follows ASVS 5.0 V6.2: 12 to 1024 characters, any characters, no composition
rules, refused when it is a common password or easy to guess (zxcvbn's 30,000 common passwords and its
estimate), or close to the user name.

**Second factor**: TOTP (RFC 6238, 6 digits, 30 s, ``pyotp``), required for admins and supervisors and
for analysts when ``mfa_required_for_analysts`` is set. A code is accepted once: the time step of the
last accepted code is stored per user and only a later step is accepted, with a conditional UPDATE so
that two requests racing with the same code cannot both win. Ten single-use recovery codes (80 bits each,
Argon2id digests at OWASP's minimum parameters, which is plenty for random codes) replace the app once each.

**Lockout**: ``lockout_threshold`` wrong passwords or codes in a row lock the account for
``lockout_minutes``; the login page says nothing more than "wrong name or password" either way. An admin
can unlock it (page ``/admin/users`` or ``tipline users unlock``). Every lock, unlock, MFA change and
session revocation is an audit event.

**Sessions** are server-side rows; the cookie carries a random id of which only the SHA-256 is stored.
A session has a stage: ``password`` (the password was right, the code is still due), ``enrol`` (must
enrol a second factor first) or ``full``. A new id is issued when a session becomes ``full`` (no session
fixation). Sessions end after ``session_idle_minutes`` idle or ``session_max_hours`` after login, at
logout, or when an admin revokes them.

Generated secrets (API keys, tokens, session ids) have 256 bits of entropy, so a SHA-256 digest is
enough to store them and keeps per-request checks fast.

The code is split by subject (``principal``, ``users``, ``mfa``, ``tokens``, ``sessions``, ``platforms``,
``audit_log``); this module names all of it, so callers import ``tipline.accounts.service`` only.
"""

from __future__ import annotations

from tipline.accounts.audit_log import (  # noqa: F401
    AuditRow,
    audit_actions,
    audit_events,
)
from tipline.accounts.mfa import (  # noqa: F401
    _code_digits,
    _new_codes,
    _totp,
    confirm_enrolment,
    disable_mfa,
    mfa_enabled,
    pending_secret,
    provisioning_uri,
    recovery_codes_left,
    regenerate_recovery_codes,
    start_enrolment,
    totp_step,
    verify_second_factor,
)
from tipline.accounts.platforms import (  # noqa: F401
    CREDENTIALS,
    PlatformCredentials,
    PlatformRow,
    RotatedCredentials,
    _platform_named,
    _which,
    cached_platform_for_api_key,
    create_platform,
    platform_by_name,
    platform_for_api_key,
    platform_for_basic,
    platform_rows,
    rotate_platform_credentials,
    set_platform_credentials,
)
from tipline.accounts.principal import (  # noqa: F401
    _CODE_ALPHABET,
    _RANK,
    CODE_HASH_PARAMS,
    MAX_PASSWORD_CHARS,
    MIN_PASSWORD_CHARS,
    PASSWORD_HASH_PARAMS,
    PENDING_LOGIN,
    RECOVERY_CODES,
    STAFF_ROLES,
    TOTP_PERIOD,
    AccountError,
    Principal,
    Role,
    _code_hasher,
    _fail,
    _hasher,
    _locked,
    _now,
    _principal,
    _user_named,
    audited,
    mfa_required,
    record,
    sha256_hex,
)
from tipline.accounts.sessions import (  # noqa: F401
    SessionInfo,
    SessionRow,
    _idle,
    _revoke_all,
    close_session,
    list_sessions,
    open_session,
    promote_session,
    revoke_session,
    revoke_user_sessions,
    session_info,
    session_principal,
)
from tipline.accounts.tokens import (  # noqa: F401
    TOKEN_PREFIX,
    UNCHECKED_SCOPE,
    IssuedToken,
    TokenRow,
    _end_token,
    _lower,
    _revoke_tokens,
    create_token,
    issue_token,
    list_tokens,
    principal_for_token,
    revoke_token,
    revoke_token_value,
)
from tipline.accounts.users import (  # noqa: F401
    LoginStep,
    UserRow,
    _active_admins,
    _check_name,
    _common_passwords,
    authenticate,
    change_password,
    create_user,
    hash_password,
    list_users,
    login_password,
    reset_mfa,
    set_active,
    set_role,
    unlock_user,
    user_rows,
    validate_password,
)
