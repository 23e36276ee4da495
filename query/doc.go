// Package query parses the query language of the q parameter (DESIGN.md §6)
// into a *trail.Expr, the filter that every store evaluates with the
// reference semantics of trail.Expr.Compile, and formats an Expr back into
// that language.
//
// # Language
//
//	action:user.login outcome:failure ip:10.0.0.0/8
//	actor:u_42 -severity:info metadata.plan:pro
//	action:user.* "payment failed" (resource_type:route OR resource_type:service)
//
// A term field:value compares one field exactly (case-sensitive); a value
// ending in an unquoted * compares by prefix. A value may be quoted, with \"
// and \\ (and Go's other escapes such as \n and \u00e9) inside; a quoted
// value ends with its closing quote, so field:"a*" is exact and field:"a b"*
// is a prefix. A term without a field is free text (trail.FieldText): its
// words must appear in that order in one text field of the event, compared
// case-insensitively; a trailing * makes the last word a prefix.
//
// The fields are actor, action, outcome, severity, resource_type,
// resource_id, ip (an address or a CIDR prefix), request_id, text and
// metadata.<key>{.<key>}; actor.id, resource.type, resource.id, source.ip
// and request.id are accepted as aliases.
//
// Adjacent terms are ANDed; AND may also be written. OR binds more loosely
// than AND, so a b OR c means (a b) OR c. A - directly before a term or a
// group, or NOT before it, negates it. Parentheses group. The keywords AND,
// OR and NOT are upper case; quote them ("OR") to search for the word.
//
// # Grammar
//
// In EBNF (ISO 14977 style), over Unicode text; white space (as
// unicode.IsSpace) separates tokens and is otherwise ignored:
//
//	query   = [ or ] ;
//	or      = and , { "OR" , and } ;
//	and     = unary , { [ "AND" ] , unary } ;
//	unary   = ( "-" | "NOT" ) , unary   (* no space after "-" *)
//	        | primary ;
//	primary = "(" , or , ")" | term ;
//	term    = [ field , ":" ] , value ;  (* no space around ":" *)
//	field   = name , { "." , name } ;
//	value   = ( word | quoted ) , [ "*" ] ;
//	word    = wordchar , { wordchar } ;   (* not AND, OR or NOT alone *)
//	quoted  = '"' , { char - ( '"' | "\" ) | escape } , '"' ;
//	escape  = "\" , ( '"' | "\" | "n" | "t" | "r" | "u" hex4 | … ) ;
//
// where wordchar is any character but white space, ( ) and ", a name is a
// run of word characters without ":", and a bare word without a field
// cannot start with "-". The first ":" of a word separates the field from
// the value, so ip:2001:db8::/32 needs no quotes.
//
// # Errors
//
// Parse returns a *trail.Error with Code trail.EINVALID, Field "q" and a
// Message that starts with the 1-based column (in characters) of the
// offending token, for example
//
//	column 14: unknown field "actr"
//
// Inputs are limited to MaxLength bytes, MaxTerms terms and MaxDepth levels
// of nesting.
package query
