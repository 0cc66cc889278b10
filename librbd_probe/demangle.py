"""An Itanium C++ ABI demangler for the subset the Ceph client libraries use (pure Python).

Follows the Itanium C++ ABI, section 5.1 "External Names" (nested names, templates,
substitutions, template parameters and packs, special names, local names, lambdas, ABI tags)
and prints the way GNU c++filt does ("char const*", "> >", "(anonymous namespace)",
"{lambda(int)#1}").  ``demangle(name)`` returns None for anything it does not parse, so a
caller can always fall back to the mangled name; tests compare it with c++filt on every
librbd::/librados:: symbol of the real builds.
"""

_BUILTIN = {
    "v": "void", "w": "wchar_t", "b": "bool", "c": "char", "a": "signed char", "h": "unsigned char",
    "s": "short", "t": "unsigned short", "i": "int", "j": "unsigned int", "l": "long",
    "m": "unsigned long", "x": "long long", "y": "unsigned long long", "n": "__int128",
    "o": "unsigned __int128", "f": "float", "d": "double", "e": "long double", "g": "__float128",
    "z": "...",
}
_BUILTIN_D = {"d": "decimal64", "e": "decimal128", "f": "decimal32", "h": "half", "i": "char32_t",
              "s": "char16_t", "u": "char8_t", "a": "auto", "c": "decltype(auto)", "n": "decltype(nullptr)"}
_OPERATORS = {
    "nw": "new", "na": "new[]", "dl": "delete", "da": "delete[]", "ps": "+", "ng": "-", "ad": "&",
    "de": "*", "co": "~", "pl": "+", "mi": "-", "ml": "*", "dv": "/", "rm": "%", "an": "&",
    "or": "|", "eo": "^", "aS": "=", "pL": "+=", "mI": "-=", "mL": "*=", "dV": "/=", "rM": "%=",
    "aN": "&=", "oR": "|=", "eO": "^=", "ls": "<<", "rs": ">>", "lS": "<<=", "rS": ">>=",
    "eq": "==", "ne": "!=", "lt": "<", "gt": ">", "le": "<=", "ge": ">=", "ss": "<=>", "nt": "!",
    "aa": "&&", "oo": "||", "pp": "++", "mm": "--", "cm": ",", "pm": "->*", "pt": "->", "cl": "()",
    "ix": "[]", "qu": "?",
}
# c++filt runs with DMGL_VERBOSE: the full expansions (libiberty cp-demangle.c standard_subs)
_STD_SUBS = {"a": ("std::allocator", "allocator"), "b": ("std::basic_string", "basic_string"),
             "s": ("std::basic_string<char, std::char_traits<char>, std::allocator<char> >", "basic_string"),
             "i": ("std::basic_istream<char, std::char_traits<char> >", "basic_istream"),
             "o": ("std::basic_ostream<char, std::char_traits<char> >", "basic_ostream"),
             "d": ("std::basic_iostream<char, std::char_traits<char> >", "basic_iostream")}
_LITERAL_SUFFIX = {"j": "u", "l": "l", "m": "ul", "x": "ll", "y": "ull"}


class _Fail(Exception):
    pass


# --- type nodes: printed in two halves, as declarators need (LLVM's ItaniumDemangle scheme) ---

class _Node(object):
    rhs = False            # has a right-hand part (function parameters, array bounds)
    function = False
    array = False

    def left(self):
        return ""

    def right(self):
        return ""

    def text(self):
        return self.left() + self.right()


class _Name(_Node):
    def __init__(self, name, base=None, template=False):
        self.name = name
        self.base = base if base is not None else name      # last component, for ctor/dtor names
        self.template = template

    def left(self):
        return self.name


class _Qual(_Node):
    def __init__(self, inner, quals):
        self.inner, self.quals = inner, quals
        self.rhs = inner.rhs
        self.function = inner.function
        self.array = inner.array

    def left(self):
        return self.inner.left() + self.quals

    def right(self):
        return self.inner.right()


class _Pointer(_Node):
    def __init__(self, inner, symbol):
        self.inner, self.symbol = inner, symbol
        self.rhs = inner.rhs

    def left(self):
        inner = self.inner
        if inner.rhs:
            out = inner.left()
            if inner.array:
                out += " "
            if inner.array or inner.function:
                out += "("
            return out + self.symbol
        return inner.left() + self.symbol

    def right(self):
        inner = self.inner
        if inner.rhs:
            return (")" if inner.array or inner.function else "") + inner.right()
        return ""


class _Function(_Node):
    rhs = True
    function = True

    def __init__(self, ret, params, cv="", ref=""):
        self.ret, self.params, self.cv, self.ref = ret, params, cv, ref

    def left(self):
        return self.ret.left() + " "

    def right(self):
        return "(" + _params(self.params) + ")" + self.ret.right() + self.cv + self.ref


class _Array(_Node):
    rhs = True
    array = True

    def __init__(self, inner, dim):
        self.inner, self.dim = inner, dim

    def left(self):
        return self.inner.left()

    def right(self):
        return " [" + self.dim + "]" + self.inner.right()


class _MemberPointer(_Node):
    def __init__(self, cls, member):
        self.cls, self.member = cls, member
        self.rhs = member.rhs

    def left(self):
        m = self.member
        out = m.left()
        out += "(" if (m.array or m.function) else " "
        return out + self.cls.text() + "::*"

    def right(self):
        m = self.member
        return (")" if (m.array or m.function) else "") + m.right()


class _Pack(_Node):
    def __init__(self, items):
        self.items = items

    def left(self):
        return ", ".join(i.text() for i in self.items)


class _Expansion(_Node):
    """Dp <type>: a pack expansion; prints its pack's elements (or "T..." when unknown)."""
    def __init__(self, inner):
        self.inner = inner

    def left(self):
        return "(" + self.inner.text() + ")..."


_LAMBDA_AUTO = object()


def _params(params):
    parts = []
    for p in params:
        if isinstance(p, _Expansion) and isinstance(p.inner, _Pack):
            parts.extend(i.text() for i in p.inner.items)
        elif isinstance(p, _Pack):
            parts.extend(i.text() for i in p.items)
        else:
            parts.append(p.text())
    if parts == ["void"]:
        return ""
    return ", ".join(parts)


def _with_args(name, args):
    """name<args>; c++filt separates an operator ending in '<' ("operator<< <T>")."""
    return name + (" " if name.endswith("<") else "") + _template_args(args)


def _template_args(args):
    parts = []
    for a in args:
        if isinstance(a, _Pack):
            parts.extend(i.text() for i in a.items)
        else:
            parts.append(a.text())
    inner = ", ".join(parts)
    # libiberty's "> >" looks at the last argument it printed: after an empty argument pack
    # it adds no space (c++filt prints "operator()<X<int>>" for <X<int>, pack{}>).
    last = args[-1] if args else None
    empty_pack = isinstance(last, _Pack) and not last.items
    return "<" + inner + (" >" if inner.endswith(">") and not empty_pack else ">")


# --- the parser --------------------------------------------------------------------------------

class _Parser(object):
    def __init__(self, text):
        self.s = text
        self.i = 0
        self.subs = []
        self.template_args = None

    def peek(self, n=0):
        j = self.i + n
        return self.s[j] if j < len(self.s) else ""

    def eat(self, prefix):
        if self.s.startswith(prefix, self.i):
            self.i += len(prefix)
            return True
        return False

    def need(self, prefix):
        if not self.eat(prefix):
            raise _Fail()

    def number(self):
        start = self.i
        if self.peek() == "n":
            self.i += 1
        while self.peek().isdigit():
            self.i += 1
        if self.i == start:
            raise _Fail()
        text = self.s[start:self.i]
        return "-" + text[1:] if text.startswith("n") else text

    def seq_id(self):
        """<seq-id> _ : base-36; '_' alone is 0."""
        if self.eat("_"):
            return 0
        start = self.i
        while self.peek() and (self.peek().isdigit() or self.peek().isupper()):
            self.i += 1
        if self.i == start:
            raise _Fail()
        value = int(self.s[start:self.i], 36)
        self.need("_")
        return value + 1

    # <mangled-name> ::= _Z <encoding> [.<suffix>]*
    def mangled(self):
        self.need("_Z")
        out = self.encoding()
        while self.peek() == ".":
            # ".cold", ".constprop.0", ".isra.0": c++filt prints one [clone ...] per part pair
            j = self.i + 1
            while j < len(self.s) and (self.s[j].isalpha() or self.s[j] == "_"):
                j += 1
            while j + 1 < len(self.s) and self.s[j] == "." and self.s[j + 1].isdigit():
                j += 2
                while j < len(self.s) and self.s[j].isdigit():
                    j += 1
            if j == self.i + 1:
                raise _Fail()
            out += " [clone " + self.s[self.i:j] + "]"
            self.i = j
        if self.i != len(self.s):
            raise _Fail()
        return out

    def encoding(self, local=False):
        c = self.peek()
        if c in ("T", "G") and self.peek(1) and not (c == "T" and self.peek(1) == "_"):
            special = self.special()
            if special is not None:
                return special
        saved_args = self.template_args
        name, cv, ref, is_template, ctor = self.name(top=True)
        if self.i >= len(self.s) or self.peek() in ("E", "."):
            self.template_args = saved_args
            return name
        ret = None
        if is_template and not ctor:
            ret = self.type()
        params = self.bare_function_type()
        self.template_args = saved_args
        text = name + "(" + _params(params) + ")" + cv + ref
        if ret is not None and not local:
            # c++filt leaves out the return type of a function that encloses a local name
            if ret.rhs:
                return ret.left() + text + ret.right()
            return ret.text() + " " + text
        return text

    def special(self):
        s = self.s
        i = self.i
        two = s[i:i + 2]
        simple = {"TV": "vtable for ", "TT": "VTT for ", "TI": "typeinfo for ", "TS": "typeinfo name for "}
        if two in simple:
            self.i += 2
            return simple[two] + self.type().text()
        if two == "Th":
            self.i += 2
            self.call_offset("h")
            return "non-virtual thunk to " + self.encoding()
        if two == "Tv":
            self.i += 2
            self.call_offset("v")
            return "virtual thunk to " + self.encoding()
        if two == "Tc":
            self.i += 2
            self.call_offset(None)
            self.call_offset(None)
            return "covariant return thunk to " + self.encoding()
        if two == "TC":
            self.i += 2
            first = self.type()
            self.number()
            self.need("_")
            second = self.type()
            return "construction vtable for " + second.text() + "-in-" + first.text()
        if two == "TH":
            self.i += 2
            return "TLS init function for " + self.name()[0]
        if two == "TW":
            self.i += 2
            return "TLS wrapper function for " + self.name()[0]
        if two == "GV":
            self.i += 2
            return "guard variable for " + self.name()[0]
        if two == "GR":
            self.i += 2
            name = self.name()[0]
            index = 0
            if not self.eat("_"):
                index = self.seq_id()
            return "reference temporary #{} for {}".format(index, name)
        return None

    def call_offset(self, kind):
        if kind is None:
            kind = self.peek()
            self.i += 1
        if kind == "h":
            self.number()
            self.need("_")
        elif kind == "v":
            self.number()
            self.need("_")
            self.number()
            self.need("_")
        else:
            raise _Fail()

    def bare_function_type(self):
        params = []
        while self.i < len(self.s) and self.peek() not in ("E", "."):
            params.append(self.type())
        if not params:
            raise _Fail()
        return params

    # <name>: returns (text, cv, ref, ends-in-template-args, is-ctor-dtor-or-conversion)
    def name(self, top=False):
        c = self.peek()
        if c == "N":
            return self.nested_name()
        if c == "Z":
            return self.local_name()
        if c == "S" and self.peek(1) == "t":
            self.i += 2
            node = _Name("std::" + self.unqualified(None).name)
            node.base = node.name[5:]
            if self.peek() == "I":
                self.subs.append(node)
                args = self.template_args_list()
                self.template_args = args
                return _with_args(node.name, args), "", "", True, False
            return node.name, "", "", False, False
        if c == "S":
            node = self.substitution()
            if self.peek() != "I":
                raise _Fail()
            args = self.template_args_list()
            self.template_args = args
            return _with_args(node.text(), args), "", "", True, False
        node = self.unqualified(None)
        if self.peek() == "I":
            self.subs.append(node)
            args = self.template_args_list()
            self.template_args = args
            return _with_args(node.name, args), "", "", True, getattr(node, "ctor", False)
        return node.name, "", "", False, getattr(node, "ctor", False)

    def local_name(self):
        self.need("Z")
        outer_args = self.template_args
        function = self.encoding(local=True)
        self.template_args = outer_args
        self.need("E")
        if self.eat("s"):
            self.discriminator()
            return function + "::string literal", "", "", False, False
        if self.peek() == "d":
            raise _Fail()
        text, cv, ref, is_template, ctor = self.name()
        self.discriminator()
        return function + "::" + text, cv, ref, is_template, ctor

    def discriminator(self):
        if self.eat("__"):
            self.number()
            self.need("_")
        elif self.peek() == "_" and self.peek(1).isdigit():
            self.i += 2

    def nested_name(self):
        self.need("N")
        cv = self.cv_qualifiers()
        ref = ""
        if self.eat("R"):
            ref = " &"
        elif self.eat("O"):
            ref = " &&"
        prefix = None            # _Name of what is parsed so far
        is_template = False
        ctor = False
        while True:
            if self.eat("E"):
                break
            c = self.peek()
            if c == "S" and self.peek(1) == "t":
                self.i += 2
                node = self.unqualified(None)
                prefix = _Name("std::" + node.name, node.base)
                is_template = False
                ctor = False
            elif c == "S" and prefix is None:
                sub = self.substitution()
                prefix = sub if isinstance(sub, _Name) else _Name(sub.text())
                is_template = False
                ctor = False
                if self.peek() == "E":
                    raise _Fail()
                continue
            elif c == "T" and prefix is None:
                param = self.template_param()
                prefix = _Name(param.text())
                is_template = False
                ctor = False
            elif c == "I":
                if prefix is None:
                    raise _Fail()
                args = self.template_args_list()
                self.template_args = args
                prefix = _Name(_with_args(prefix.name, args), prefix.base, True)
                is_template = True
                ctor = False
            elif c == "D" and self.peek(1) in ("t", "T"):
                raise _Fail()
            else:
                node = self.unqualified(prefix)
                text = node.name if prefix is None else prefix.name + "::" + node.name
                prefix = _Name(text, node.base)
                is_template = False
                ctor = getattr(node, "ctor", False)
            if self.peek() != "E":
                self.subs.append(prefix)
        if prefix is None:
            raise _Fail()
        return prefix.name, cv, ref, is_template, ctor

    def cv_qualifiers(self):
        out = ""
        if self.eat("r"):
            out += " restrict"
        if self.eat("V"):
            out += " volatile"
        if self.eat("K"):
            out += " const"
        return out

    def unqualified(self, prefix):
        c = self.peek()
        if c.isdigit():
            node = self.source_name()
        elif c == "C" and self.peek(1) in "12345I":
            self.i += 1
            inheriting = self.eat("I")
            if self.peek() not in "12345":
                raise _Fail()
            self.i += 1
            if prefix is None:
                raise _Fail()
            node = _Name(prefix.base)
            node.ctor = True
            if inheriting:
                self.type()
        elif c == "D" and self.peek(1) in "01245":
            self.i += 2
            if prefix is None:
                raise _Fail()
            node = _Name("~" + prefix.base)
            node.ctor = True
        elif c == "U":
            node = self.unnamed()
        elif c == "L":
            self.i += 1               # internal-linkage marker before a source name
            node = self.source_name()
            self.discriminator()
        elif c.islower():
            node = self.operator_name()
        else:
            raise _Fail()
        while self.peek() == "B":
            self.i += 1
            tag = self.source_name()
            node = _Name(node.name + "[abi:" + tag.name + "]", node.base)
        return node

    def source_name(self):
        length = int(self.number())
        if length <= 0 or self.i + length > len(self.s):
            raise _Fail()
        ident = self.s[self.i:self.i + length]
        self.i += length
        if ident.startswith("_GLOBAL_") and len(ident) > 9 and ident[8] in "._$" and ident[9] == "N":
            return _Name("(anonymous namespace)")
        return _Name(ident)

    def unnamed(self):
        if self.eat("Ut"):
            n = 1
            if not self.eat("_"):
                n = int(self.number()) + 2
                self.need("_")
            return _Name("{unnamed type#%d}" % n)
        if self.eat("Ul"):
            params = []
            saved = self.template_args
            self.template_args = _LAMBDA_AUTO       # generic lambda: T_ is its "auto:1" parameter
            while not self.eat("E"):
                params.append(self.type())
            self.template_args = saved
            n = 1
            if not self.eat("_"):
                n = int(self.number()) + 2
                self.need("_")
            return _Name("{lambda(" + _params(params) + ")#%d}" % n)
        raise _Fail()

    def operator_name(self):
        two = self.s[self.i:self.i + 2]
        if two == "cv":
            self.i += 2
            node = _Name("operator " + self.type().text())
            node.ctor = True               # a conversion has no return type printed
            return node
        if two == "li":
            self.i += 2
            return _Name('operator"" ' + self.source_name().name)
        if two in _OPERATORS:
            self.i += 2
            op = _OPERATORS[two]
            return _Name("operator" + (" " + op if op[0].isalpha() else op))
        raise _Fail()

    def substitution(self):
        self.need("S")
        c = self.peek()
        if c in _STD_SUBS:
            self.i += 1
            full, base = _STD_SUBS[c]
            return _Name(full, base)
        index = self.seq_id()
        if index >= len(self.subs):
            raise _Fail()
        return self.subs[index]

    def template_param(self):
        self.need("T")
        index = self.seq_id()
        if self.template_args is _LAMBDA_AUTO:
            return _Name("auto:%d" % (index + 1))
        if self.template_args is None or index >= len(self.template_args):
            raise _Fail()
        return self.template_args[index]

    def template_args_list(self):
        self.need("I")
        args = []
        while not self.eat("E"):
            args.append(self.template_arg())
        return args

    def template_arg(self):
        c = self.peek()
        if c == "L":
            return self.expr_primary()
        if c == "J":
            self.i += 1
            items = []
            while not self.eat("E"):
                items.append(self.template_arg())
            return _Pack(items)
        if c == "X":
            self.i += 1
            if self.eat("ad") and self.s.startswith("L_Z", self.i):
                node = self.expr_primary(name_only=True)
                self.need("E")
                return _Name("&" + node.name)
            raise _Fail()
        return self.type()

    def expr_primary(self, name_only=False):
        self.need("L")
        if self.eat("_Z"):
            saved = self.template_args
            if name_only:
                # &Class::member: the name, its parameter types parsed (substitutions) but
                # not printed
                text = self.name()[0]
                if self.peek() != "E":
                    self.bare_function_type()
            else:
                text = self.encoding()
            self.template_args = saved
            self.need("E")
            return _Name(text)
        kind = self.peek()
        if not (kind in _BUILTIN or kind == "D"):
            # a literal of a class/enum type: "(__gnu_cxx::_Lock_policy)2"
            typ = self.type()
            value = self.number()
            self.need("E")
            return _Name("(" + typ.text() + ")" + value)
        if kind == "b" and self.peek(1) in "01" and self.peek(2) == "E":
            self.i += 3
            return _Name("true" if self.s[self.i - 2] == "1" else "false")
        if kind in _BUILTIN and kind not in ("v", "z"):
            self.i += 1
            value = self.number()
            self.need("E")
            if kind == "i":
                return _Name(value)
            if kind in _LITERAL_SUFFIX:
                return _Name(value + _LITERAL_SUFFIX[kind])
            return _Name("(" + _BUILTIN[kind] + ")" + value)
        raise _Fail()

    def type(self):
        c = self.peek()
        if c in _BUILTIN:
            self.i += 1
            return _Name(_BUILTIN[c])
        if c == "u":
            self.i += 1
            node = self.source_name()
            self.subs.append(node)
            return node
        if c == "D":
            d = self.peek(1)
            if d in _BUILTIN_D:
                self.i += 2
                return _Name(_BUILTIN_D[d])
            if d == "p":
                self.i += 2
                inner = self.type()
                node = _Expansion(inner)
                self.subs.append(node)
                return node
            raise _Fail()
        if c in ("r", "V", "K"):
            quals = self.cv_qualifiers()
            inner = self.type()
            if isinstance(inner, _Function):
                node = _Function(inner.ret, inner.params, inner.cv + quals, inner.ref)
            else:
                node = _Qual(inner, quals)
            self.subs.append(node)
            return node
        if c in ("P", "R", "O"):
            self.i += 1
            inner = self.type()
            node = self._pointer(inner, {"P": "*", "R": "&", "O": "&&"}[c])
            self.subs.append(node)
            return node
        if c == "F":
            self.i += 1
            self.eat("Y")
            ret = self.type()
            params = []
            ref = ""
            while True:
                if self.eat("E"):
                    break
                if self.s.startswith("RE", self.i):
                    self.i += 2
                    ref = " &"
                    break
                if self.s.startswith("OE", self.i):
                    self.i += 2
                    ref = " &&"
                    break
                params.append(self.type())
            node = _Function(ret, params, "", ref)
            self.subs.append(node)
            return node
        if c == "A":
            self.i += 1
            dim = ""
            if self.peek().isdigit():
                dim = self.number()
            self.need("_")
            node = _Array(self.type(), dim)
            self.subs.append(node)
            return node
        if c == "M":
            self.i += 1
            cls = self.type()
            member = self.type()
            node = _MemberPointer(cls, member)
            self.subs.append(node)
            return node
        if c == "T":
            node = self.template_param()
            self.subs.append(node)
            if self.peek() == "I":
                args = self.template_args_list()
                node = _Name(_with_args(node.text(), args))
                self.subs.append(node)
            return node
        if c == "S":
            if self.peek(1) == "t":
                self.i += 2
                inner = self.unqualified(None)
                node = _Name("std::" + inner.name, inner.base)
                self.subs.append(node)
                if self.peek() == "I":
                    args = self.template_args_list()
                    node = _Name(_with_args(node.name, args), node.base, True)
                    self.subs.append(node)
                return node
            node = self.substitution()
            if self.peek() == "I":
                args = self.template_args_list()
                node = _Name(_with_args(node.text(), args), getattr(node, "base", None), True)
                self.subs.append(node)
            return node
        if c == "N" or c.isdigit() or c == "Z":
            saved = self.template_args
            text = self.name()[0]
            self.template_args = saved
            node = _Name(text, text.rsplit("::", 1)[-1])
            self.subs.append(node)
            return node
        raise _Fail()

    @classmethod
    def _pointer(cls, inner, symbol):
        if isinstance(inner, _Pack):
            return _Pack([cls._pointer(i, symbol) for i in inner.items])
        if isinstance(inner, _Expansion) and isinstance(inner.inner, _Pack):
            return _Expansion(cls._pointer(inner.inner, symbol))
        if symbol in ("&", "&&") and isinstance(inner, _Pointer) and inner.symbol in ("&", "&&"):
            # reference collapsing: & & -> &, && & -> &, & && -> &, && && -> &&
            return _Pointer(inner.inner, "&&" if symbol == inner.symbol == "&&" else "&")
        return _Pointer(inner, symbol)


def demangle(name):
    """The C++ name c++filt prints for the mangled ``name``; None if it is not parsed here."""
    if not name or not name.startswith("_Z"):
        return None
    try:
        return _Parser(name).mangled()
    except (_Fail, IndexError, ValueError, RecursionError):
        return None


def display(name):
    """Demangled when possible, else the name itself."""
    return demangle(name) or name
