# Normalise an xl.cfg(5) file (libxlutil's grammar: NAME = VALUE, VALUE a number, a
# '...' / "..." string or a [ list ], statements ended by newline or ';', # comments)
# into "S<TAB>name<TAB>value" and "L<TAB>name<TAB>count" + "I<TAB>name<TAB>item" lines.
# A syntax error prints libxlutil's message and exits 1.
function die(tok) {
	printf "%s:%d: config parsing error near `%s\047: syntax error\n", src, ln, tok > "/dev/stderr"
	bad = 1; exit 1 }
function skip_ws(nl,   c) {
	while (p <= n) {
		c = substr(t, p, 1)
		if (c == "#") { while (p <= n && substr(t, p, 1) != "\n") p++; continue }
		if (c == " " || c == "\t" || c == "\r") { p++; continue }
		if (nl && c == "\n") { p++; ln++; continue }
		if (c == "\n") return
		break
	} }
function tok(   c, q, s, e) {   # sets T (kind) and V (value)
	c = substr(t, p, 1)
	if (p > n) { T = "EOF"; V = ""; return }
	if (c == "\n") { p++; ln++; T = "NL"; V = "\\n"; return }
	if (index("=[],;", c)) { p++; T = c; V = c; return }
	if (c == "\"" || c == "\047") {
		q = c; s = p + 1; e = s
		while (e <= n && substr(t, e, 1) != q) { if (substr(t, e, 1) == "\n") { V = substr(t, p, e - p); die(V) } ; e++ }
		if (e > n) die(substr(t, p))
		V = substr(t, s, e - s); p = e + 1; T = "STR"; return }
	if (c ~ /[A-Za-z0-9_.+-]/) {
		s = p; while (p <= n && substr(t, p, 1) ~ /[A-Za-z0-9_.+:\/-]/) p++
		V = substr(t, s, p - s); T = (V ~ /^[A-Za-z_][A-Za-z0-9_.]*$/) ? "ID" : "NUM"; return }
	V = c; die(c) }
{ t = t $0 "\n" }
END {
	if (bad) exit 1
	n = length(t); p = 1; ln = 1
	while (1) {
		skip_ws(0); tok()
		if (T == "EOF") break
		if (T == "NL" || T == ";") continue
		if (T != "ID") die(V)
		key = V; skip_ws(0); tok(); if (T != "=") die(V)
		skip_ws(0); tok()
		if (T == "STR" || T == "NUM") { print "S\t" key "\t" V }
		else if (T == "[") {
			cnt = 0; items = ""
			while (1) {
				skip_ws(1); tok(); while (T == "NL") { skip_ws(1); tok() }
				if (T == "]") break
				if (T != "STR" && T != "NUM") die(V)
				items = items "I\t" key "\t" V "\n"; cnt++
				skip_ws(1); tok(); while (T == "NL") { skip_ws(1); tok() }
				if (T == "]") break
				if (T != ",") die(V)
			}
			printf "L\t%s\t%d\n%s", key, cnt, items
		} else die(V)
		skip_ws(0); tok()
		if (T != "NL" && T != ";" && T != "EOF") die(V)
		if (T == "EOF") break
	}
}
