# Self-test of the fallback Test::Nginx::Socket: a data-driven file run
# against the stock nginx (no module needed).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
BEGIN {
    $ENV{OCI_TEST_FALLBACK} = 1;
    $ENV{TEST_NGINX_BINARY} ||= '/usr/sbin/nginx';
    $ENV{TEST_NGINX_SERVROOT} = "$FindBin::Bin/../servroot-fallback-runner";
    require File::Path;
    File::Path::remove_tree("$ENV{TEST_NGINX_SERVROOT}-data");
    delete @ENV{qw(TEST_NGINX_LOAD_MODULES TEST_NGINX_CLIENT_PORT TEST_NGINX_LOG_LEVEL)};
    # A free port of our own, so test files may run in parallel.
    require IO::Socket::INET;
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1)
        or die "no free port: $!";
    $ENV{TEST_NGINX_PORT} = $ENV{TEST_NGINX_SERVER_PORT} = $s->sockport;
}
BEGIN { if ($ENV{OCI_TEST_FALLBACK}) { unshift @INC, "$FindBin::Bin/../lib/fallback" } else { push @INC, "$FindBin::Bin/../lib/fallback" } }
use Test::Nginx::Socket 'no_plan';

ok($Test::Nginx::Socket::IsFallback, 'the fallback runner is loaded');

our $dav = <<'_EOC_';
    location /dav/ {
        # beside the servroot, which is emptied before every start
        root $TEST_NGINX_SERVER_ROOT-data;
        dav_methods PUT DELETE;
        create_full_put_path on;
    }
_EOC_

# Every block gets "no [alert]" unless it says something about the log;
# every response passes through the body check.
our $bodies = 0;
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value(no_error_log => "[alert]\n[crit]")
        if !defined $block->error_log && !defined $block->no_error_log && !defined $block->must_die;
});
add_response_body_check(sub {
    my ($block, $body, $req_idx, $rep) = @_;
    $bodies++;
});

no_shuffle();
run_tests();

ok($bodies >= 20, "response body checks ran ($bodies)");

__DATA__

=== TEST 1: sanity
--- config
    location = /t { return 200 "hello\n"; }
--- request
GET /t
--- response_body
hello



=== TEST 2: chomp filter, error_code 404, body like
--- config
    location = /t { return 200 "hello"; }
--- request
GET /missing
--- error_code: 404
--- response_body_like chomp
404 Not Found



=== TEST 3: response headers, absent header, raw headers
--- config
    location = /t {
        add_header X-Foo "bar";
        add_header X-Multi "a";
        add_header X-Multi "b";
        return 200 "ok";
    }
--- request
GET /t
--- response_headers
X-Foo: bar
X-Multi: a, b
!X-Absent
Content-Length: 2
--- raw_response_headers_like: ^HTTP/1\.1 200 OK\r\n
--- raw_response_headers_unlike: Transfer-Encoding
--- response_body: ok



=== TEST 3b: headers like, in a block of its own (the real runner skips them beside response_headers)
--- request
GET /t
--- response_headers_like
Server: nginx/\d+\.\d+\.\d+
X-Foo: b.r



=== TEST 4: automatic and extra request headers
--- config
    location = /t { return 200 "[$http_x_foo][$http_host][$http_connection][$http_x_b]"; }
--- request
    # a comment line and leading blanks are dropped
    GET /t
--- more_headers
X-Foo: bar
# comment
X-B:no-space
--- response_body: [bar][localhost][close][no-space]



=== TEST 5: more_headers may override Host and Connection
--- config
    location = /t { return 200 "[$http_host][$http_connection]"; }
--- request
GET /t
--- more_headers
Host: example.test
Connection: close
--- response_body: [example.test][close]



=== TEST 6: body is trimmed and gets a Content-Length
--- config eval: $::dav
--- request eval
["PUT /dav/a.txt
  hello world  
", "GET /dav/a.txt"]
--- error_code eval
[201, 200]
--- response_body eval
["", "hello world"]



=== TEST 7: body sent as-is when more_headers has Content-Length
--- config eval: $::dav
--- request eval
["PUT /dav/b.txt\n  hi  \n", "GET /dav/b.txt"]
--- more_headers eval
["Content-Length: 7", ""]
--- error_code eval
[201, 200]
--- response_body eval
["", "  hi  \n"]



=== TEST 8: a flow with several requests, each on its own connection
--- config eval: $::dav
--- request eval
["PUT /dav/x/y.txt\nabc", "GET /dav/x/y.txt", "HEAD /dav/x/y.txt", "DELETE /dav/x/y.txt", "GET /dav/x/y.txt"]
--- error_code eval
[201, 200, 200, 204, 404]
--- response_headers eval
["", "Content-Length: 3", "Content-Length: 3", "", "!ETag"]
--- response_body_like eval
["^\$", "^abc\$", "^\$", "^\$", "404 Not Found"]



=== TEST 9: pipelined requests on one keep-alive connection
--- config
    location = /a { return 200 "a"; }
    location = /b { add_header X-B 1; return 200 "bb"; }
--- pipelined_requests eval
["GET /a", "HEAD /b", "GET /b", "GET /missing"]
--- error_code eval
[200, 200, 200, 404]
--- response_headers eval
["Content-Length: 1", "X-B: 1", "X-B: 1", "!X-B"]
--- response_body_like eval
["^a\$", "^\$", "^bb\$", "404"]



=== TEST 10: user_files
--- config
--- user_files
>>> foo.txt
hello
>>> sub/dir/bar.txt
bar
--- request eval
["GET /foo.txt", "GET /sub/dir/bar.txt", "GET /"]
--- response_body eval
["hello\n", "bar\n", qr/It works!/]



=== TEST 11: chunked response is de-chunked (SSI drops Content-Length)
--- config
    location /ssi/ { ssi on; ssi_types text/plain; root html; }
--- user_files
>>> ssi/page.txt
a<!--# echo var="arg_x" -->b
--- request
GET /ssi/page.txt?x=42
--- raw_response_headers_like: Transfer-Encoding: chunked
--- response_body
a42b



=== TEST 12: raw_request is sent untouched
--- config
    location = /a { return 200 "raw"; }
--- raw_request eval
"GET /a HTTP/1.0\r\n\r\n"
--- response_body: raw
--- raw_response_headers_unlike: Connection: keep-alive



=== TEST 13: a request split in packets, with a delay
--- config
    location = /a { return 200 "[$request_method $uri]"; }
--- request eval
[["GE", {value => "T /a", delay_before => 0.1}]]
--- response_body: [GET /a]



=== TEST 14: error_log and no_error_log, strings and regexes
--- config
--- request
GET /nonexistent.html
--- error_code: 404
--- error_log eval
['open() "', qr/\[error\] \d+#\d+: \*\d+ open\(\)/]
--- no_error_log
[alert]
[emerg]



=== TEST 15: $TEST_NGINX_* in config, $ServerPort in expectations
--- config
    location = /p { return 200 "port=$TEST_NGINX_SERVER_PORT"; }
--- request
GET /p
--- response_body chomp
port=$ServerPort



=== TEST 16: init runs after nginx starts, before the requests
--- config
--- init
open my $fh, '>', "$ENV{TEST_NGINX_SERVER_ROOT}/html/init.txt" or die $!;
print $fh "from init";
close $fh;
--- request
GET /init.txt
--- response_body: from init



=== TEST 17: must_die with a bad directive
--- config
    bogus_directive on;
--- must_die
--- error_log
unknown directive "bogus_directive"



=== TEST 18: must_die with an exit code, error in http_config
--- http_config
    bogus_http_directive 1;
--- config
--- must_die: 1
--- error_log eval
qr/\[emerg\].*bogus_http_directive/



=== TEST 19: timeout with abort
--- config
--- raw_request eval
"GET / HTTP/1.1\r\nHost: x\r\n"
--- timeout: 200ms
--- abort
--- error_code:



=== TEST 20: log_level section
--- config
    location = /t { return 200 "ok"; }
--- log_level: warn
--- request
GET /t
--- response_body: ok
--- no_error_log
[debug]
[info]



=== TEST 21: debug logging is on by default
--- config
    location = /t { return 200 "ok"; }
--- request
GET /t
--- response_body: ok
--- error_log
[debug]



=== TEST 22: error_code_like, response_body_unlike, wait
--- config
    location = /t { return 418 "teapot"; }
--- request
GET /t
--- error_code_like: ^4\d\d$
--- response_body_unlike: coffee
--- wait: 0.05



=== TEST 23: server_name section, main_config and post_main_config
--- main_config
    worker_rlimit_nofile 1024;
--- post_main_config
    pcre_jit on;
--- server_name: example.test
--- config
    location = /t { return 200 "$server_name"; }
--- request
GET /t
--- response_body: example.test



=== TEST 24: more_headers as an array, one entry per request
--- config
    location = /t { return 200 "[$http_x_n]"; }
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["X-N: 1", "X-N: 2"]
--- response_body eval
["[1]", "[2]"]



=== TEST 25: a block without config reuses the running nginx
--- request
GET /t
--- response_body: [2]
--- more_headers
X-N: 2



=== TEST 26: blob dirs created by nginx survive between blocks
--- config eval: $::dav
--- request
GET /dav/a.txt
--- response_body: hello world
