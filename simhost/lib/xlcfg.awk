# Normalise an xl.cfg(5) file (libxlutil's grammar: NAME = VALUE, VALUE a number, a
# '...' / "..." string or a [ list ], statements ended by newline or ';', # comments)
# into "S<TAB>name<TAB>value" and "L<TAB>name<TAB>count" + "I<TAB>name<TAB>item" lines.
# A syntax error prints libxlutil's message and exits 1.  -v nonl=1: the input's last
# line has no newline (awk cannot tell; it matters for the messages at the end).
# die CONTEXT: bison's verbose "syntax error" for the current token (T, RAW, TL), with
# what the grammar expected there (messages as libxlutil 4.17 prints them).
function die(ctx,   want, name, near, line) {
	if (ctx == "stmt") want = "$end or IDENT or NEWLINE or \047;\047"
	else if (ctx == "op") want = "+= or \047=\047"
	else if (ctx == "value") want = "STRING or NUMBER or \047[\047"
	else if (ctx == "list") want = "\047]\047"
	else want = "$end"
	if (T == "ID") name = "IDENT"
	else if (T == "NUM") name = "NUMBER"
	else if (T == "STR") name = "STRING"
	else if (T == "NL") name = "NEWLINE"
	else if (T == "EOF") name = "$end"
	else if (T == "+=") name = "+="
	else name = "\047" T "\047"
	line = TL; near = "`" RAW "\047"
	if (T == "NL") { near = "<newline>"; line = TL - 1 }
	if (T == "EOF" && substr(t, n, 1) == "\n") line = TL - 1   # the last NEWLINE's line
	printf "%s:%d: config parsing error near %s: syntax error, unexpected %s, expecting %s\n", src, line, near, name, want > "/dev/stderr"
	bad = 1; exit 1 }
# lexerr MSG TOKEN: xlu__cfgl_lexicalerror() -> xlu__cfg_yyerror()'s report
function lexerr(msg, token) {
	printf "%s:%d: config parsing error near `%s\047: %s\n", src, ln, token, msg > "/dev/stderr"
	if (likely_python)
		printf "warning: Config file looks like it contains Python code.\nwarning:  Arbitrary Python is no longer supported.\nwarning:  See https://wiki.xen.org/wiki/PythonInXlConfig\n" > "/dev/stderr"
	bad = 1; exit 1 }
# dequote TOKEN (quotes included): libxlu_cfg.c xlu__cfgl_dequote(): \" \' \\ \a \b \f \n \r
# \t \v; \x always fails (NUMERIC_CHAR(2,2,...) wants more than 2 of at most 2 digits);
# \0-\7 takes the next up to 3 characters as a decimal number of at least 2 digits and
# stores nothing; anything else fails.
function dequote(token,   r, i, m, c, nc, w) {
	r = ""; m = length(token) - 1; i = 2
	while (i <= m) {
		c = substr(token, i, 1); i++
		if (c != "\\") { r = r c; continue }
		nc = substr(token, i, 1); i++
		if (nc == "\"" || nc == "\047" || nc == "\\") r = r nc
		else if (nc == "a") r = r "\007"
		else if (nc == "b") r = r "\010"
		else if (nc == "f") r = r "\014"
		else if (nc == "n") r = r "\n"
		else if (nc == "r") r = r "\r"
		else if (nc == "t") r = r "\t"
		else if (nc == "v") r = r "\013"
		else if (nc == "x") lexerr("invalid digit after backslash hexnumerical character escape in quoted string", token)
		else if (nc ~ /[0-7]/) {
			w = substr(token, i, 3)
			if (!match(w, /^[ \t]*[+-]?[0-9]+/) || RLENGTH <= 1)
				lexerr("invalid digit after backslash octalnumerical character escape in quoted string", token)
			i += RLENGTH }
		else lexerr("invalid character after backlash in quoted string", token)
	}
	return r }
function skip_ws(nl,   c) {
	while (p <= n) {
		c = substr(t, p, 1)
		if (c == "#") { while (p <= n && substr(t, p, 1) != "\n") p++; continue }
		if (c == " " || c == "\t" || c == "\r") { p++; continue }
		if (nl && c == "\n") { p++; ln++; continue }
		if (c == "\n") return
		break
	} }
function tok(   c, q, s, e) {   # sets T (kind), V (value), RAW (its text) and TL (its line)
	c = substr(t, p, 1); TL = ln
	if (p > n) { T = "EOF"; V = ""; RAW = ""; return }
	if (c == "\n") { p++; ln++; T = "NL"; V = "\\n"; RAW = ""; return }
	if (index("=[],;", c)) { p++; T = c; V = c; RAW = c; return }
	if (c == "\"" || c == "\047") {
		# the lexer's STRING: q([^q\\\n]|\\.)*q, then xlu__cfgl_dequote()
		q = c; s = p + 1; e = s
		while (e <= n && substr(t, e, 1) != q) {
			if (substr(t, e, 1) == "\n" || (substr(t, e, 1) == "\\" && (substr(t, e + 1, 1) == "\n" || e + 1 > n))) {
				# no STRING token: the quote alone is a lexical error, reported up to a blank
				s = p + 1; while (s <= n && substr(t, s, 1) !~ /[ \t\n]/) s++
				lexerr("lexical error", substr(t, p, s - p)) }
			if (substr(t, e, 1) == "\\") e++
			e++ }
		if (e > n) { s = p + 1; while (s <= n && substr(t, s, 1) !~ /[ \t\n]/) s++; lexerr("lexical error", substr(t, p, s - p)) }
		RAW = substr(t, p, e - p + 1); V = dequote(RAW); p = e + 1; T = "STR"
		gsub(/\n/, "\\n", V); gsub(/\t/, "\\t", V)   # (the S/I lines are tab separated)
		return }
	if (c ~ /[a-z]/) {   # IDENT: [a-z][._0-9a-z]*
		s = p; p++; while (p <= n && substr(t, p, 1) ~ /[._0-9a-z]/) p++
		V = substr(t, s, p - s); RAW = V; T = "ID"; return }
	if (c ~ /[0-9]/) {   # NUMBER: [0-9][0-9a-fx]*
		s = p; p++; while (p <= n && substr(t, p, 1) ~ /[0-9a-fx]/) p++
		V = substr(t, s, p - s); RAW = V; T = "NUM"; return }
	if (c == "+" && substr(t, p + 1, 1) == "=") { p += 2; T = "+="; V = "+="; RAW = V; return }
	# anything else: a lexical error, reported with the text up to the next blank
	if (index("+-.():", c)) likely_python = 1
	s = p; p++; while (p <= n && substr(t, p, 1) !~ /[ \t\n]/) p++
	lexerr("lexical error", substr(t, s, p - s)) }
{ t = t $0 "\n" }
END {
	if (bad) exit 1
	if (nonl) t = substr(t, 1, length(t) - 1)   # the file's last line had no newline
	n = length(t); p = 1; ln = 1
	while (1) {
		skip_ws(0); tok()
		if (T == "EOF") break
		if (T == "NL" || T == ";") continue
		if (T != "ID") die("stmt")
		# += appends to a list (libxlu's OP_ADD); here it sets, as = does
		key = V; skip_ws(0); tok(); if (T != "=" && T != "+=") die("op")
		skip_ws(0); tok()
		if (T == "STR" || T == "NUM") { print "S\t" key "\t" V }
		else if (T == "[") {
			cnt = 0; items = ""
			while (1) {
				skip_ws(1); tok(); while (T == "NL") { skip_ws(1); tok() }
				if (T == "]") break
				if (T != "STR" && T != "NUM") die("list")
				items = items "I\t" key "\t" V "\n"; cnt++
				skip_ws(1); tok(); while (T == "NL") { skip_ws(1); tok() }
				if (T == "]") break
				if (T != ",") die("list")
			}
			printf "L\t%s\t%d\n%s", key, cnt, items
		} else die("value")
		skip_ws(0); tok()
		if (T != "NL" && T != ";" && T != "EOF") die("end")
		if (T == "EOF") break
	}
}
