#!/bin/bash
# t_shellcheck.sh - every shell script of scripts/ and tests/ passes
# ShellCheck with no warning or error (Debian's package; when it is missing,
# scripts/install-deps.sh installs it for this test).  Scripts are found by
# their name (*.sh) or their #! line; the sourced libraries say their shell
# in a directive of their own.
. "$(dirname "$0")/lib.sh"
if ! command -v shellcheck >/dev/null; then
	"$TOP/scripts/install-deps.sh" shellcheck >/dev/null 2>&1
fi
if ! command -v shellcheck >/dev/null; then
	skip "shellcheck is not installed and install-deps.sh shellcheck failed"
	finish
fi
files=()
while IFS= read -r f; do
	case $f in
	*.sh) files+=("$f") ;;
	*) head -n1 "$f" | grep -qE '^#!.*(/|env )(ba|da)?sh( |$)' && files+=("$f") ;;
	esac
done < <(cd "$TOP" && find scripts tests -type f ! -path '*/.*' | sort)
check "scripts found (${#files[@]})" test ${#files[@]} -ge 40
check "check_asrfs and asr-status are among them" test -n "$(printf '%s\n' "${files[@]}" | grep -x scripts/check_asrfs)" -a -n "$(printf '%s\n' "${files[@]}" | grep -x scripts/asr-status)"
for f in "${files[@]}"; do
	if out=$(cd "$TOP" && shellcheck -S warning "$f" 2>&1); then
		ok "shellcheck $f"
	else
		not_ok "shellcheck $f"
		printf '%s\n' "$out" | grep -E '^In |SC[0-9]+' | head -10
	fi
done
finish
