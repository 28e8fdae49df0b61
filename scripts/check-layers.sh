#!/bin/sh
# check-layers.sh - core/'s files call and include only downward.
#
# docs/DESIGN.md ("Structure of core") puts every file of core/ in a layer:
# the lines that start with "L<n>" list the files of layer n (by name
# without .c/.h), up to a "--" that starts their description.  This script
# derives the graph of core/'s files from the source:
#   - an include edge F -> X for each `#include "X.h"` in F.c or F.h;
#   - a call edge F -> G for each name F.c uses (a call, or a function or
#     variable taken by address) that G.c defines without `static`;
# and fails when
#   - a file of core/ is in no layer (or in two), or the table names a
#     file core/ does not have,
#   - an edge goes to a higher layer than the file it leaves,
#   - the graph has a cycle (files of one layer may use each other, but
#     never both ways, directly or around).
#
# Usage: scripts/check-layers.sh [-g] [ROOT]
#   ROOT  the tree to check (default: the one this script is in)
#   -g    also print the derived graph, one "file -> file (why)" a line
#   -h    print the usage line and exit 0 (an unknown option: exit 2)
# LAYERS=FILE takes the layer table from FILE instead of ROOT/docs/DESIGN.md
# (to check another tree, such as an older commit, against today's layers).
# Exit status: 0 when the graph holds, 1 when it does not, 2 on bad usage.
set -eu

usage() { echo "usage: check-layers.sh [-g] [ROOT]  (-h: this help)"; }
graph=0
case ${1:-} in
-h | --help)
	usage
	exit 0
	;;
-g)
	graph=1
	shift
	;;
esac
case ${1:-} in
-*)
	usage >&2
	exit 2
	;;
esac
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
layers=${LAYERS:-$root/docs/DESIGN.md}
if [ ! -d "$root/core" ] || [ ! -r "$layers" ]; then
	usage >&2
	echo "check-layers: $root/core and $layers must exist" >&2
	exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The layer table: "file rank" lines.
awk '/^ *L[0-9]+ / {
	n = substr($1, 2) + 0
	for (i = 2; i <= NF && $i != "--"; i++)
		if ($i ~ /^[a-z_0-9]+$/)
			print $i, n
}' "$layers" >"$tmp/layers"
if [ ! -s "$tmp/layers" ]; then
	echo "check-layers: no layer table (lines \"L<n> file ... -- why\") in $layers" >&2
	exit 2
fi

# Each file's text without comments and string or character literals, as
# "file<TAB>line" records (file: its name in core/, such as jobs.c).
for f in "$root"/core/*.c "$root"/core/*.h; do
	[ -e "$f" ] || continue
	b=$(basename "$f")
	awk -v file="$b" '
	BEGIN { incomment = 0 }
	{
		line = $0; out = ""
		# an include line keeps its quoted name
		if (!incomment && line ~ /^[ \t]*#[ \t]*include[ \t]*"/) {
			print file "\tINCLUDE " line
			next
		}
		while (line != "") {
			if (incomment) {
				k = index(line, "*/")
				if (!k) { line = ""; break }
				line = substr(line, k + 2); incomment = 0; out = out " "
				continue
			}
			c = substr(line, 1, 1); c2 = substr(line, 1, 2)
			if (c2 == "/*") { incomment = 1; line = substr(line, 3); continue }
			if (c2 == "//") break
			if (c == "\"" || c == "\047") {
				# skip the literal, honouring backslash escapes
				q = c; line = substr(line, 2)
				while (line != "") {
					d = substr(line, 1, 1)
					if (d == "\\") { line = substr(line, 3); continue }
					line = substr(line, 2)
					if (d == q) break
				}
				out = out " "
				continue
			}
			out = out c; line = substr(line, 2)
		}
		print file "\t" out
	}' "$f"
done >"$tmp/src"

# Definitions: a non-static function or variable at the top level of a .c
# file.  A function starts at column 0 with its name before the first "("
# and is a definition when a "{" follows its parameter list (at the end of
# its last line, or at column 0 on the next); a variable starts at column 0
# and has "=" or ends with ";" before any "(".
awk -F '\t' '$1 !~ /\.c$/ { next }
{
	s = substr($0, length($1) + 2)
	if (pending != "") {
		if (s ~ /^\{/) {
			print pending, file
			pending = ""
			next
		}
		if (s ~ /^[ \t]/ && s !~ /;[ \t]*$/)
			next                         # the parameter list goes on
		pending = ""
	}
	if (s !~ /^[A-Za-z_]/ || s ~ /^(static|typedef|extern|enum|union)[ \t]/ || s ~ /^[A-Z_0-9]+\(/)
		next                         # not a definition, or a macro use
	file = $1; sub(/\.c$/, "", file)
	p = index(s, "(")
	head = p ? substr(s, 1, p - 1) : s
	if (p && head !~ /=/) {
		if (!match(head, /[A-Za-z_][A-Za-z_0-9]*[ \t]*$/))
			next
		name = substr(head, RSTART, RLENGTH); sub(/[ \t]*$/, "", name)
		if (s ~ /\)[ \t]*\{/)
			print name, file         # a one-line definition
		else if (s !~ /;[ \t]*$/)
			pending = name
	} else if (match(s, /[A-Za-z_][A-Za-z_0-9]*[ \t]*(\[[^]]*\])?[ \t]*(=|;)/) && s !~ /^struct [A-Za-z_0-9]+[ \t]*\{/) {
		name = substr(s, RSTART, RLENGTH); sub(/[ \t]*(\[[^]]*\])?[ \t]*(=|;)$/, "", name)
		print name, file
	}
}' "$tmp/src" | sort -u >"$tmp/defs"

# Edges "from to why".
{
	awk -F '\t' '$2 ~ /^INCLUDE / {
		f = $1; sub(/\.[ch]$/, "", f)
		x = $2; sub(/^[^"]*"/, "", x); sub(/".*$/, "", x)
		if (x ~ /\// || x !~ /\.h$/)
			next                         # another directory, or not a header
		sub(/\.h$/, "", x)
		if (x != f)
			print f, x, "#include \"" x ".h\" in " $1
	}' "$tmp/src"
	awk -F '\t' 'NR == FNR { split($0, d, " "); def[d[1]] = d[2]; next }
	$1 ~ /\.c$/ && $2 !~ /^INCLUDE / {
		f = $1; sub(/\.c$/, "", f)
		s = substr($0, length($1) + 2)
		while (match(s, /[A-Za-z_][A-Za-z_0-9]*/)) {
			id = substr(s, RSTART, RLENGTH); s = substr(s, RSTART + RLENGTH)
			if ((id in def) && def[id] != f && !seen[f SUBSEP id]++)
				print f, def[id], "uses " id
		}
	}' "$tmp/defs" "$tmp/src"
} >"$tmp/edges"

if [ "$graph" = 1 ]; then
	awk '{ w = $3; for (i = 4; i <= NF; i++) w = w " " $i; print $1 " -> " $2 " (" w ")" }' "$tmp/edges" |
		sort
fi

# The verdict.
awk -v layers="$tmp/layers" -v files="$tmp/src" '
BEGIN {
	bad = 0
	while ((getline l < layers) > 0) {
		split(l, a, " ")
		if (a[1] in rank) {
			printf "check-layers: %s is in two layers (L%d, L%d)\n", a[1], rank[a[1]], a[2]
			bad = 1
		}
		rank[a[1]] = a[2] + 0
	}
	while ((getline l < files) > 0) {
		split(l, a, "\t"); f = a[1]; sub(/\.[ch]$/, "", f)
		if (!(f in rank) && !(f in told)) {
			printf "check-layers: core/%s is in no layer of the table\n", a[1]
			told[f] = 1; bad = 1
		}
		node[f] = 1
	}
}
{
	from = $1; to = $2; why = $3; for (i = 4; i <= NF; i++) why = why " " $i
	if ((from in rank) && (to in rank) && rank[to] > rank[from]) {
		printf "check-layers: upward: %s (L%d) -> %s (L%d): %s\n", from, rank[from], to, rank[to], why
		bad = 1
	}
	reach[from, to] = 1
}
END {
	for (f in rank)
		if (!(f in node)) {
			printf "check-layers: the table puts %s in L%d, but core/ has no %s.c or %s.h\n", f, rank[f], f, f
			bad = 1
		}
	# transitive closure (a few dozen files): a cycle is a file that reaches itself
	for (k in node)
		for (i in node)
			if ((i, k) in reach)
				for (j in node)
					if ((k, j) in reach)
						reach[i, j] = 1
	for (i in node) {
		if (!((i, i) in reach) || (i in incycle))
			continue
		members = ""
		for (j in node)
			if (((i, j) in reach) && ((j, i) in reach)) {
				incycle[j] = 1
				members = members " " j
			}
		printf "check-layers: cycle among:%s\n", members
		bad = 1
	}
	exit bad
}' "$tmp/edges"
