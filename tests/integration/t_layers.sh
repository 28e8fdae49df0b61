#!/bin/bash
# t_layers.sh - core/'s files call and include only downward, as the layer
# table of docs/DESIGN.md says (scripts/check-layers.sh); and the check
# itself catches each kind of breach, on copies of core/ with one planted.
. "$(dirname "$0")/lib.sh"
CHECK="$TOP/scripts/check-layers.sh"

if out=$("$CHECK" "$TOP" 2>&1); then
	ok "core/ holds to the layers of docs/DESIGN.md"
else
	not_ok "core/ holds to the layers of docs/DESIGN.md"
	printf '%s\n' "$out" | head -20
fi
graph=$("$CHECK" -g "$TOP" 2>&1)
check "the derived graph has call edges (ops -> lifecycle)" \
	grep -qx 'ops -> lifecycle (uses lifecycle_prepare)' <<<"$graph"
check "the derived graph has include edges (daemon -> jobs)" \
	grep -qx 'daemon -> jobs (#include "jobs.h" in daemon.c)' <<<"$graph"
check "a name in a comment or a string is no edge" \
	bash -c '! grep -q "^sched -> protect" <<<"$1"' _ "$graph"

# A fresh copy of core/ and the table, to plant one breach in.
copy() {
	rm -rf "$WORK/tree"
	mkdir -p "$WORK/tree/docs"
	cp -r "$TOP/core" "$WORK/tree/core"
	cp "$TOP/docs/DESIGN.md" "$WORK/tree/docs/"
}
# expect_breach NAME PATTERN: the check fails on the copy and says PATTERN.
expect_breach() {
	local out rc=0
	out=$("$CHECK" "$WORK/tree" 2>&1) || rc=$?
	if [ "$rc" = 1 ] && grep -qE "$2" <<<"$out"; then
		ok "$1"
	else
		not_ok "$1 (exit $rc)"
		printf '%s\n' "$out" | head -10
	fi
}

copy
check "an unchanged copy passes" "$CHECK" "$WORK/tree"

copy
printf '\nvoid model_planted(void)\n{\n\tjobs_stop();\n}\n' >>"$WORK/tree/core/model.c"
expect_breach "an upward call fails (model.c calls jobs.c)" \
	'upward: model \(L1\) -> jobs \(L3\): uses jobs_stop'

copy
sed -i '0,/^#include "model.h"$/s//#include "model.h"\n#include "protect.h"/' "$WORK/tree/core/jobs.c"
expect_breach "an upward include fails (jobs.c includes protect.h)" \
	'upward: jobs \(L3\) -> protect \(L4\): #include "protect.h" in jobs.c'

copy
printf '\nint rules_planted(void)\n{\n\treturn inventory_planted();\n}\n' >>"$WORK/tree/core/rules.c"
printf '\nint inventory_planted(void)\n{\n\treturn rules_planted();\n}\n' >>"$WORK/tree/core/inventory.c"
expect_breach "a cycle within one layer fails (inventory <-> rules)" \
	'cycle among:( [a-z]+)*( inventory( [a-z]+)* rules| rules( [a-z]+)* inventory)'

copy
printf '/* planted.c - a file in no layer */\n' >"$WORK/tree/core/planted.c"
expect_breach "a file in no layer fails" 'core/planted\.c is in no layer'

copy
sed -i 's/^    L2  inventory  tracking/    L2  inventory  planted  tracking/' "$WORK/tree/docs/DESIGN.md"
expect_breach "a table naming a file core/ lacks fails" 'puts planted in L2, but core/ has no planted'

finish
