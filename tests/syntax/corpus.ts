/** Valid Starlark programs covering the grammar, for round-trip tests and as fuzzing seeds. */
export const CORPUS: readonly string[] = [
  'x = 1\n',
  'print("hello, world")\n',
  `# A comment.
load("lib.star", "a", b = "c", "é")

@memo
@app.route("/x", methods = ["GET", "POST"])
def f(a, b = 1, *args, c, d = 2, **kwargs):
    """Docstring."""
    x = [i * 2 for i in range(10) if i % 2 for j in a]
    y = {k: v for k, v in d.items()}
    z = (1,)
    w = ()
    a, b = b, a
    [p, q] = 1, 2
    (r, s,) = 3, 4
    s = x[1:2], x[::2], x[:], x[1:], x[a, b], x[1, 2:], x[::]
    t = lambda x, *y, **z: x if y else z
    u = not a and b or c
    v = -x.y[1](2) * 3 if 0 else ~4
    x += 1; y //= 2; z <<= 3; w >>= 4
    x -= 1; x *= 2; x /= 3; x %= 4; x &= 5; x |= 6; x ^= 7
    if a:
        pass
    elif b:
        return
    elif c: return None
    else:
        return 1, 2
    for i in 1, 2, 3:
        continue
    while True:
        break
    return b"\\x00\\xff" + "\\u00e9\\n" + r'raw\\d' + 0x1F + 0o17 + 0b1 + 1.5e3 + .5 + 1. + 12345678901234567890
`,
  `def g(*, k = None):
    return k
g(k = 1)
h = 1 .real
i = a not in b
j = a in b
k = (a < b) == (c > d)
l = a | b ^ c & d << 1 >> 2 + 3 - 4 * 5 / 6 // 7 % 8
m = f(*args, **kwargs)
n = [
    1,
    2,
]
o = {
    "a": 1,  # trailing comment
    'b': [x for x in y if x if not x],
}
p = '''multi
line''' + """another
one"""
`,
  `def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)

[fib(i) for i in range(10)]
`,
  'if x: pass\n',
  'def f(): return lambda: lambda x: x\n',
  'x = [a for b in c if lambda: d]\n',
  'x = [a for b in c if (lambda: d if e else f)]\n',
  'x = [x for x in (lambda: True, lambda: False) if x()]\n',
  'x = a if b else c if d else e\n',
  'x = (a if b else c) if d else e\n',
  'x = lambda: (yield_ for yield_ in y)\n'.replace('(yield_ for yield_ in y)', '[y for y in z]'),
  'for (a, b) in c:\n  for [d, e] in f:\n    pass\n',
  'x = {}\ny = []\nz = ()\n',
  'x = f(a)(b)[c].d(e)\n',
  'x = -1 + +2 - ~3\n',
  'x = not not a\n',
  'x = "tab\\there" + "quote\\"s" + \'single\\\'s\' + "\\a\\b\\f\\v\\r" + "\\0\\177"\n',
  'x = "日本語" + "😿" + b"\\x80"\n',
  'f(a, b = 2)\nf(\n  a,\n  b,\n)\n',
  'def f(a,): pass\ndef g(*args,): pass\ndef h(**kw,): pass\n',
  'x = 1; y = 2;\n',
  'def f():\n\tif x:\n\t\treturn 1\n\treturn 2\n',
  'x = 1 + \\\n  2\n',
  'while x:\n  x -= 1\n',
  'x[1] = y.z = 0\n'.replace(' = y.z = 0', ' = 0'),
  'x.y, z[0] = 1, 2\n',
];
