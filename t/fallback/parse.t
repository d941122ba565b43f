# Self-test of the fallback Test::Nginx::Socket internals: the __DATA__
# parser, request building and response parsing.  No nginx is started.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
BEGIN {
    $ENV{OCI_TEST_FALLBACK} = 1;
    $ENV{TEST_NGINX_SERVROOT} = "$FindBin::Bin/../servroot-fallback-parse";
}
BEGIN { if ($ENV{OCI_TEST_FALLBACK}) { unshift @INC, "$FindBin::Bin/../lib/fallback" } else { push @INC, "$FindBin::Bin/../lib/fallback" } }
use Test::Nginx::Socket 'no_plan';

my $T = 'Test::Nginx::Socket';

sub parse {
    my $blocks = Test::Nginx::Socket::parse_spec(shift);
    Test::Nginx::Socket::_filter_block($_) for @$blocks;
    return $blocks;
}

# --- blocks, names, sections, implicit norm+trim ---------------------------
{
    my $b = parse(<<"_EOS_");
preamble text is ignored
=== TEST 1: first
some description
--- config
    location /t { return 200; }

--- request
GET /t
--- error_code: 201
--- response_body\r
\r
line1\r
line2\r
\r
\r
--- more_headers eval: "X-A: " . (1 + 2)
=== TEST 2: second
--- response_body chomp
hello
--- error_log eval
[qr/foo/, "bar"]
--- no_error_log
_EOS_
    is(scalar @$b, 2, 'two blocks');
    my ($b1, $b2) = @$b;
    is($b1->name, 'TEST 1: first', 'block name');
    is($b1->description, 'some description', 'description');
    is($b1->seq_num, 1, 'seq_num');
    is($b1->config, "    location /t { return 200; }\n", 'trailing blank lines dropped, final newline kept');
    is($b1->request, "GET /t\n", 'request value');
    is($b1->error_code, '201', 'inline value');
    is($b1->response_body, "line1\nline2\n", 'CRLF normalised, blank edge lines dropped');
    is($b1->more_headers, 'X-A: 3', 'inline eval');
    is($b1->response_headers, undef, 'absent section is undef');
    is($b2->response_body, 'hello', 'chomp filter');
    is(ref $b2->error_log, 'ARRAY', 'eval returns an arrayref');
    is(ref $b2->error_log->[0], 'Regexp', 'eval keeps qr//');
    is($b2->no_error_log, '', 'empty section is defined and empty');

    $b1->set_value(init => 'x');
    is($b1->init, 'x', 'set_value');
    $b1->set_value(name => 'renamed');
    is($b1->name, 'renamed', 'set_value name');
}

# --- ONLY / SKIP / LAST -----------------------------------------------------
{
    my $spec = "=== A\n--- config\n=== B\n--- SKIP\n=== C\n--- LAST\n=== D\n";
    is(join(',', map { $_->name } @{ parse($spec) }), 'A,C', 'SKIP and LAST');
    my $diag = '';
    no warnings 'redefine';
    local *Test::More::diag = sub { $diag .= join '', @_ };
    is(join(',', map { $_->name } @{ parse("=== A\n=== B\n--- ONLY\n=== C\n") }), 'B', 'ONLY');
    like($diag, qr/I found ONLY/, 'ONLY is reported');
}

# --- unknown sections / filters die ----------------------------------------
{
    eval { parse("=== A\n--- test\nfoo\n") };
    like($@, qr/unsupported in fallback: section '--- test'/, 'unknown section dies');
    eval { parse("=== A\n--- response_body lines\nfoo\n") };
    like($@, qr/unsupported in fallback: filter 'lines'/, 'unknown filter dies');
    eval { parse("=== A\n--- error_code: 200\n404\n") };
    like($@, qr/Extra lines not allowed/, 'extra lines after an inline value die');
    eval { parse("=== A\n--- config\n--- config\n") };
    like($@, qr/duplicate section/, 'duplicate section dies');
}

# --- eval runs under strict, outside main (like Test::Base::Filter) ---------
{
    our $shared = 'main var';
    my $b = parse("=== A\n--- response_body eval\n\$::shared . '!'\n");
    is($b->[0]->response_body, 'main var!', '$::var is visible in eval');
    my $err = eval { Test::Nginx::Socket::Sandbox::run('$shared', 'x'); 1 } ? '' : $@;
    like($err, qr/Global symbol "\$shared" requires explicit package name/,
         'unqualified main variables fail, as under the real runner');
}

# --- request building --------------------------------------------------------
{
    my $mh = \&Test::Nginx::Socket::_parse_more_headers;
    my $build = sub {
        my ($more, $conn, @packets) = @_;
        my $p = Test::Nginx::Socket::_build_request('x', $mh->($more), $conn,
                                                    [map { ref $_ ? $_ : { value => $_ } } @packets]);
        return wantarray ? @$p : join '', map { $_->{value} } @$p;
    };
    is(scalar $build->('', 'close', "GET"), "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
       'defaults: URI, version, Host, Connection');
    is(scalar $build->('', 'close', "  HEAD /a HTTP/1.0\n"),
       "HEAD /a HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n", 'explicit version');
    is(scalar $build->("X-A:1\n# c\nHost: h\n", 'keep-alive', "GET /\n"),
       "GET / HTTP/1.1\r\nConnection: keep-alive\r\nX-A: 1\r\nHost: h\r\n\r\n",
       'more_headers: comments dropped, Host not doubled');
    is(scalar $build->('', 'close', "POST /p\n  body  \n\n"),
       "POST /p HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 4\r\n\r\nbody",
       'body trimmed, Content-Length added');
    is(scalar $build->("Content-Length: 3\n", 'close', "POST /p\n x\n"),
       "POST /p HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 3\r\n\r\n x\n",
       'explicit Content-Length: body untouched');
    is(scalar $build->("Transfer-Encoding: chunked\n", 'close', "POST /p\n1\r\na\r\n0\r\n\r\n"),
       "POST /p HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
       'chunked: no Content-Length');
    is(scalar $build->('', 'close', "GET /\n"), "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
       'empty body: no Content-Length');
    my @p = $build->('', 'close', "GE", { value => "T /a\nxy", delay_before => 1 });
    is(scalar @p, 2, 'packets kept');
    is($p[0]{value}, 'GE', 'first packet');
    like($p[1]{value}, qr{^T /a HTTP/1\.1\r\n.*Content-Length: 2\r\n\r\nxy$}s, 'second packet');
    is($p[1]{delay_before}, 1, 'delay kept');
    @p = $build->('', 'close', "POST /a\nab", "cd");
    is($p[0]{value} . '|' . $p[1]{value},
       "POST /a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 4\r\n\r\nab|cd",
       'packet split inside the body');
}

# --- response parsing --------------------------------------------------------
{
    my $buf = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nx-a: 2\r\n\r\n"
            . "3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: x\r\n\r\n"
            . "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnopHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
    my $r = Test::Nginx::Socket::_parse_response('x', \$buf, 0);
    is($r->{code}, 200, 'status');
    is($r->{body}, 'abcde', 'de-chunked');
    is(Test::Nginx::Socket::_header($r, 'X-A'), '1, 2', 'repeated headers joined');
    like($r->{raw_headers}, qr/^HTTP\/1\.1 200 OK\r\n.*X-A: 1\r\n/s, 'raw headers');
    $r = Test::Nginx::Socket::_parse_response('x', \$buf, 0);
    is("$r->{code} $r->{body}", '404 nop', 'second pipelined response framed by Content-Length');
    $r = Test::Nginx::Socket::_parse_response('x', \$buf, 1);
    is("$r->{code} [$r->{body}]", '200 []', 'HEAD response has no body');
    is($buf, '', 'buffer consumed');
    $buf = 'garbage';
    $r = Test::Nginx::Socket::_parse_response('x', \$buf, 0);
    is($r->{code}, '', 'no status line: empty code');
}

# --- misc ---------------------------------------------------------------------
is(Test::Nginx::Socket::_parse_time('50ms'), 0.05, '50ms');
is(Test::Nginx::Socket::_parse_time('2s'), 2, '2s');
is(Test::Nginx::Socket::_parse_time('1.5'), 1.5, 'plain seconds');
{
    local $ENV{TEST_NGINX_FOO} = 'bar';
    is(Test::Nginx::Socket::_expand_env(['a $TEST_NGINX_FOO', { value => '$TEST_NGINX_FOO' }], 'x', {})->[1]{value},
       'bar', 'env expanded in nested request values');
}
like($Test::Nginx::Socket::ServRoot, qr{/t/servroot-fallback-parse$}, 'servroot is absolute and canonical');
is($ServerPort, $Test::Nginx::Socket::ServerPort, '$ServerPort exported');
eval { config_preamble('x') };
like($@, qr/unsupported in fallback: config_preamble/, 'unsupported function dies');
eval "package Other; use Test::Nginx::Socket 'foo'; 1";
like($@, qr/unsupported in fallback: foo/, 'unsupported import dies');
