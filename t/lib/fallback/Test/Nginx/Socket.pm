package Test::Nginx::Socket;

# Fallback for openresty's Test::Nginx::Socket (test-nginx 0.33), written
# from scratch with core Perl only (no Test::Base, LWP or HTTP::Response).
#
# It runs the subset of the data-driven format described in STYLE.md
# sections 3.1 and 3.4.  The same .t files must also run under the real
# runner, so anything this file cannot do faithfully dies with
# "unsupported in fallback: X" instead of passing silently.
#
# The runner is loaded only when the real one is not on @INC (see the
# loading rule in STYLE.md 3.3); OCI_TEST_FALLBACK=1 forces it.

use strict;
use warnings;

use Test::More ();
use IO::Socket::INET ();
use IO::Select ();
use POSIX qw(WNOHANG);
use File::Path qw(make_path remove_tree);
use File::Spec ();
use Scalar::Util qw(openhandle looks_like_number);
use List::Util qw(shuffle);
use Time::HiRes qw(sleep time);
use Errno qw(EAGAIN EINTR EWOULDBLOCK);

our $VERSION    = '0.33_fallback';
our $IsFallback = 1;

# ---------------------------------------------------------------------------
# Settings (environment first, then the helper functions below)
# ---------------------------------------------------------------------------

our $NginxBinary = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $ServerPort  = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
our $ServerPortForClient = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;
our $ServerAddr  = '127.0.0.1';
our $ServerName  = 'localhost';
our $ServRoot;
if ($ENV{TEST_NGINX_RANDOMIZE}) {
    $ServerPort = $ServerPortForClient = _free_port();
    $ServRoot   = File::Spec->rel2abs("t/servroot_$ServerPort");
} else {
    $ServRoot = File::Spec->rel2abs($ENV{TEST_NGINX_SERVROOT} || 't/servroot');
}
$ServRoot =~ s{/+$}{};
$ServRoot =~ s{/\.(?=/|$)}{}g;                           # textual canonpath:
1 while $ServRoot =~ s{/(?!\.\.(?:/|$))[^/]+/\.\.(?=/|$)}{};   # drop "dir/.."

our $HtmlDir    = "$ServRoot/html";
our $LogDir     = "$ServRoot/logs";
our $ConfDir    = "$ServRoot/conf";
our $ConfFile   = "$ConfDir/nginx.conf";
our $ErrLogFile = "$LogDir/error.log";
our $AccLogFile = "$LogDir/access.log";
our $StderrFile = "$LogDir/stderr.log";
our $PidFile    = "$LogDir/nginx.pid";

our $RepeatEach        = 1;
our $LogLevel          = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $Workers           = 1;
our $WorkerConnections = 64;
our $MasterOn          = ($ENV{TEST_NGINX_MASTER_PROCESS} // 'off') eq 'on';
our $NoRootLocation    = 0;
our $NoShuffle         = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $Timeout           = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $Verbose           = $ENV{TEST_NGINX_VERBOSE};
our (@EnvToNginx, @BlockPreprocessors, @ResponseBodyChecks, @CleanupHandlers);

$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;
$ENV{TEST_NGINX_SERVER_PORT} = $ServerPort;

# The real runner's modes this one does not implement: asked for one, it
# stops rather than run the plain mode under that name.
for my $mode (qw(USE_HUP USE_VALGRIND USE_STAP USE_HTTP2 USE_HTTP3 USE_RR
                 CHECK_LEAK CHECK_ACCUM_ERR_LOG BENCHMARK NO_NGINX_MANAGER
                 POSTPONE_OUTPUT EVENT_TYPE FAST_SHUTDOWN REUSE_PORT
                 LD_PRELOAD WORKER_USER FORCE_RESTART_ON_TEST))
{
    my $var = "TEST_NGINX_$mode";

    # restarting for every block with a --- config is the default (1)
    if ($mode eq 'FORCE_RESTART_ON_TEST') {
        next if !defined $ENV{$var} || $ENV{$var};
    } else {
        next unless $ENV{$var};
    }
    Test::More::BAIL_OUT("$var is not supported by the fallback runner: "
        . "run the real Test::Nginx (TEST_NGINX_LIB, see docs/testing.md)");
}

# nginx runs in its own process group (so stop can KILL its workers too):
# turn Ctrl-C / SIGTERM into exit() so the END cleanup still stops it.
for my $sig (qw(INT TERM)) {
    $SIG{$sig} = sub { exit 128 + ($sig eq 'INT' ? 2 : 15) }
        if !$SIG{$sig} || $SIG{$sig} eq 'DEFAULT';
}

# Runtime state.
my $MainPid = $$;
my ($NginxPid, $NginxName);     # running nginx and the block that started it
my $FirstStart = 1;             # look for a stale nginx only once per file
my $ErrLogPos  = 0;             # error.log offset of the next log check
my $BlockList;                  # parsed blocks (lazily, from main::DATA)

# Sections we implement.  Anything else in a block dies.
my %SECTIONS = map { $_ => 1 } qw(
    main_config http_config config post_main_config server_name user_files
    init log_level must_die
    request more_headers pipelined_requests raw_request timeout abort wait
    error_code error_code_like response_headers response_headers_like
    raw_response_headers_like raw_response_headers_unlike
    response_body response_body_like response_body_unlike
    error_log no_error_log
    ONLY SKIP LAST
);
my %FILTERS = map { $_ => 1 } qw(eval chomp);

# ---------------------------------------------------------------------------
# Import / exports
# ---------------------------------------------------------------------------

my @EXPORTS = qw(
    run_tests blocks repeat_each no_shuffle log_level no_root_location
    master_on master_off workers worker_connections env_to_nginx
    add_block_preprocessor add_response_body_check add_cleanup_handler
    bail_out no_long_string no_diff server_root html_dir server_port timeout
);

# Exported by the real runner (or Test::Base) but not implemented here:
# calling one dies instead of being an undefined-sub surprise.
my @UNSUPPORTED = qw(
    run_test is_str config_preamble master_process_enabled use_hup
    server_name server_addr server_port_for_client no_nginx_manager
    check_accum_error_log set_http_config_filter first_block next_block
    filters filters_delay filter_arguments run run_is run_is_deeply
    run_like run_unlike run_compare delimiters spec_file spec_string
);

sub import {
    my ($class, @args) = @_;
    my $caller = caller;
    my @plan;
    while (@args) {
        my $arg = shift @args;
        if ($arg eq 'no_plan') {
            @plan = ('no_plan');
        } elsif ($arg eq 'tests' && @args) {
            @plan = (tests => shift @args);
        } elsif ($arg eq 'skip_all') {
            @plan = (skip_all => shift(@args) // '');
        } else {
            die "unsupported in fallback: $arg\n";
        }
    }

    no strict 'refs';
    for my $sym (@Test::More::EXPORT) {
        if ($sym =~ /^\$(\w+)/) {
            *{"${caller}::$1"} = \${"Test::More::$1"};
        } else {
            *{"${caller}::$sym"} = \&{"Test::More::$sym"};
        }
    }
    *{"${caller}::$_"} = \&{$_} for @EXPORTS;
    for my $fn (@UNSUPPORTED) {
        *{"${caller}::$fn"} = sub { die "unsupported in fallback: $fn\n" };
    }
    *{"${caller}::ServerPort"} = \$ServerPort;
    *{"${caller}::ServRoot"}   = \$ServRoot;
    *{"${caller}::HtmlDir"}    = \$HtmlDir;

    Test::More->builder->exported_to($caller);
    Test::More::plan(@plan) if @plan;
}

# ---------------------------------------------------------------------------
# Small public helpers (same names and behaviour as the real runner)
# ---------------------------------------------------------------------------

sub repeat_each { $RepeatEach = shift if @_; $RepeatEach }
sub no_shuffle () { $NoShuffle = 1 }
sub log_level { $LogLevel = shift if @_; $LogLevel }
sub no_root_location () { $NoRootLocation = 1 }
sub master_on () { $MasterOn = 1 }
sub master_off () { $MasterOn = 0 }
sub workers { $Workers = shift if @_; $Workers }
sub worker_connections { $WorkerConnections = shift if @_; $WorkerConnections }
sub timeout { $Timeout = shift if @_; $Timeout }
sub server_root () { $ServRoot }
sub html_dir () { $HtmlDir }
sub server_port { $ServerPort = shift if @_; $ServerPort }
sub no_long_string () { }    # no-op: we never use Test::LongString
sub no_diff () { }           # no-op: we never use Text::Diff

sub env_to_nginx {
    die "env_to_nginx: no arguments specified\n" unless @_;
    for my $v (@_) {
        die "env_to_nginx: bad argument value: $v\n" if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @EnvToNginx, $v;
    }
}

# The real runner unshifts, so the handler added last runs first.
sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }
sub add_response_body_check ($) { push @ResponseBodyChecks, shift }
sub add_cleanup_handler ($) { unshift @CleanupHandlers, shift }

sub bail_out (@) {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

# ---------------------------------------------------------------------------
# Parsing __DATA__ (the Test::Base format)
# ---------------------------------------------------------------------------

# Block objects: sections are read through methods ($block->config) and
# changed with set_value, as add_block_preprocessor handlers expect.
package Test::Nginx::Socket::Block {
    our $AUTOLOAD;

    sub new { my ($class, %args) = @_; bless { v => {}, order => [], %args }, $class }
    sub name { $_[0]{name} }
    sub description { $_[0]{description} }
    sub seq_num { $_[0]{seq_num} }

    sub set_value {
        my ($self, $key, $value) = @_;
        if ($key eq 'name') { $self->{name} = $value; return }
        push @{ $self->{order} }, $key unless exists $self->{v}{$key};
        $self->{v}{$key} = $value;
    }

    sub AUTOLOAD {
        my $self = shift;
        (my $key = $AUTOLOAD) =~ s/.*:://;
        return if $key eq 'DESTROY';
        die "Not allowed to set values for '$key'\n" if @_;
        return $self->{v}{$key};
    }
}

# Parse the text after __DATA__ into blocks, honouring ONLY, SKIP and LAST.
sub parse_spec {
    my ($spec) = @_;
    my @blocks;
    my @hunks = $spec =~ /^(===.*?(?=^===|\z))/msg;
    for my $hunk (@hunks) {
        my $block = _parse_hunk($hunk);
        if (exists $block->{v}{ONLY}) {
            Test::More::diag("I found ONLY: maybe you're debugging?");
            @blocks = ($block);
            last;
        }
        next if exists $block->{v}{SKIP};
        push @blocks, $block;
        last if exists $block->{v}{LAST};
    }
    my $seq = 1;
    $_->{seq_num} = $seq++ for @blocks;
    return \@blocks;
}

# One "=== name" hunk: split into "--- section filters" parts.  Values keep
# their raw text here; filters run later (see _filter_block).
sub _parse_hunk {
    my ($hunk) = @_;
    $hunk =~ s/\A===[ \t]*(.*)\s+// or die "bad block: $hunk";
    my $block = Test::Nginx::Socket::Block->new(name => $1);
    my ($cur, $description) = (undef, '');
    for my $line (split /^/m, $hunk) {
        if ($line =~ /^--- +\(?(\w+)\)? *(.*)\n\z/) {
            my ($sec, $rest) = ($1, $2);
            my ($filters, $inline) = ($rest, undef);
            if ($rest =~ /:(?:\s|\z)/) {
                ($filters, $inline) = split /\s*:(?:\s+|\z)/, $rest, 2;
                $inline //= '';
                $inline =~ s/^\s+|\s+$//g;
            }
            die "unsupported in fallback: section '--- $sec' in block '${\ $block->name}'\n"
                unless $SECTIONS{$sec};
            die "duplicate section '--- $sec' in block '${\ $block->name}'\n"
                if exists $block->{v}{$sec};
            for my $f (split ' ', $filters) {
                die "unsupported in fallback: filter '$f' in '--- $sec' of block '${\ $block->name}'\n"
                    unless $FILTERS{$f};
            }
            $cur = { filters => $filters, inline => defined $inline, text => $inline // '' };
            $block->set_value($sec, $cur);
        } elsif ($cur) {
            if ($cur->{inline}) {
                die "Extra lines not allowed in an inline section of block '${\ $block->name}'\n"
                    if $line =~ /\S/;
            } else {
                $cur->{text} .= $line;
            }
        } else {
            $description .= $line;
        }
    }
    $description =~ s/\s+\z//;
    $block->{description} = $description =~ /\S/ ? $description : $block->name;
    return $block;
}

# Apply the implicit norm+trim filters, then the listed ones, in order.
sub _filter_block {
    my ($block) = @_;
    return if $block->{filtered}++;
    for my $sec (@{ $block->{order} }) {
        my $raw = $block->{v}{$sec};
        my $v = $raw->{text};
        $v =~ s/\015\012/\n/g;              # norm
        $v =~ s/\r/\n/g;
        $v =~ s/\A(?:[ \t]*\n)+//;          # trim: blank leading lines,
        $v =~ s/(?<=\n)\s*\z//;             # trailing blanks, keep final \n
        for my $f (split ' ', $raw->{filters}) {
            if ($f eq 'eval') {
                my $where = $block->name . " --- $sec";
                eval { $v = Test::Nginx::Socket::Sandbox::run($v, $where); 1 }
                    or bail_out($@);
            } elsif ($f eq 'chomp') {
                chomp $v unless ref $v;
            }
        }
        $block->{v}{$sec} = $v;
    }
}

sub _block_list {
    return $BlockList if $BlockList;
    no warnings 'once';
    my $fh = openhandle(\*main::DATA)
        or die "Test::Nginx::Socket: no __DATA__ section in $0\n";
    my $spec = do { local $/; <$fh> } // '';
    return $BlockList = parse_spec($spec);
}

sub blocks {
    my ($section) = @_;
    my @blocks = @{ _block_list() };
    @blocks = grep { exists $_->{v}{$section} } @blocks if defined $section;
    return scalar @blocks unless wantarray;
    _filter_block($_) for @blocks;
    return @blocks;
}

# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------

sub run_tests () {
    _find_binary();
    my @blocks = blocks();
    @blocks = shuffle @blocks if $ENV{OCI_TEST_SHUFFLE} && !$NoShuffle;
    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value(name => "$0 " . $block->name);
        _run_block($block);
    }
    cleanup();
}

sub _run_block {
    my ($block) = @_;
    return if defined $block->SKIP;
    my $name = $block->name;

    # Sections added by preprocessors must be known too.
    for my $sec (keys %{ $block->{v} }) {
        die "unsupported in fallback: section '--- $sec' in block '$name'\n"
            unless $SECTIONS{$sec};
    }

    # The real runner checks only one section of each of these pairs and
    # silently drops the other: a check that never runs there is refused.
    for my $pair ([qw(error_code_like error_code)],
                  [qw(response_headers response_headers_like)],
                  [qw(response_body response_body_like)],
                  [qw(response_body response_body_unlike)],
                  [qw(response_body_like response_body_unlike)])
    {
        my ($kept, $dropped) = @$pair;
        bail_out("$name - --- $kept and --- $dropped in one block: the real "
                 . "runner would check only --- $kept")
            if defined $block->$kept && defined $block->$dropped;
    }

    # Values with $TEST_NGINX_* expanded; the block itself is left alone.
    my %ports;
    my %run = map { $_ => _expand_env($block->$_, $name, \%ports) }
        qw(config http_config main_config post_main_config user_files
           request more_headers pipelined_requests raw_request);

    if (!defined $run{config}) {
        # The real runner keeps the previous nginx when there is no
        # --- config, silently ignoring these sections; refuse instead.
        my @cfg = grep { defined $block->$_ }
            qw(http_config main_config post_main_config user_files must_die log_level server_name);
        bail_out("$name - --- @cfg without --- config: the real runner would "
                 . "ignore it (add an empty '--- config')") if @cfg;
        bail_out("$name - No '--- config' section specified and could not get previous one")
            unless $NginxPid;
    } else {
        _stop_nginx();
        _setup_servroot();
        _write_user_files($block, $run{user_files});
        _write_config($block, \%run);

        if (defined $block->must_die) {
            _run_must_die($block);
            return;
        }

        my ($ok, $status) = _start_nginx($name);
        if (!$ok) {
            Test::More::fail("$name - nginx failed to start ("
                             . _status_str($status) . ")");
            my @lines = grep { /\[(?:emerg|alert|crit)\]/ } _startup_log_lines();
            Test::More::diag(@lines ? join('', @lines) : "no [emerg] lines; see $LogDir");
            _check_sanitizer_logs($name);
            return;
        }
    }

    if (defined(my $init = $block->init)) {
        eval { Test::Nginx::Socket::Sandbox::run($init, "$name --- init"); 1 }
            or bail_out("$name - init failed: $@");
    }

    $ErrLogPos = 0;
    for my $rep (0 .. $RepeatEach - 1) {
        _write_user_files($block, $run{user_files}) if $rep > 0;
        _run_requests($block, \%run, $rep);
    }
}

# must_die: nginx has to exit by itself; error_log is checked against
# error.log plus nginx's stderr.  Repeated repeat_each times like the real one.
sub _run_must_die {
    my ($block) = @_;
    my $name = $block->name;
    my $want = $block->must_die;
    for my $rep (0 .. $RepeatEach - 1) {
        unlink $ErrLogFile, $StderrFile;
        my ($up, $status) = _start_nginx($name, 1);
        if ($up) {
            Test::More::fail("$name - die as expected");
            Test::More::diag("nginx must die but it does not; killing it");
        } elsif (looks_like_number($want) && $want =~ /\S/) {
            Test::More::is($status >> 8, $want, "$name - die with the expected exit code");
        } else {
            Test::More::isnt($status, 0, "$name - die as expected");
        }
        _check_error_log($block, $rep, [_startup_log_lines()], 1);
        $up ? _stop_nginx() : _check_sanitizer_logs($name);
    }
}

sub _run_requests {
    my ($block, $run, $rep) = @_;
    my $name    = $block->name;
    my $timeout = _parse_time($block->timeout) // $Timeout;
    my $wait    = _parse_time($block->wait);
    my $conns   = _requests_for_block($block, $run);
    bail_out("$name - request empty") unless @$conns;

    my $pipelined  = defined $block->pipelined_requests;
    my $need_array = $pipelined || @$conns > 1;
    my $req_idx = 0;
    for my $ci (0 .. $#$conns) {
        my $conn = $conns->[$ci];
        my $buf = _send_request($block, $conn->{packets}, $timeout);
        Test::More::diag("response: [$buf]") if $Verbose;
        my @heads = @{ $conn->{heads} };
        for my $ri (0 .. $#heads) {
            my $res = _parse_response($name, \$buf, $heads[$ri]);
            if (!$pipelined && length $buf) {
                (my $left = $buf) =~ s/([\0-\037\200-\377])/sprintf('\x{%02x}', ord $1)/eg;
                Test::More::diag("WARNING: $name - unexpected extra bytes after last chunk in response: \"$left\"");
            }
            _check_response($block, $res, $req_idx, $rep, $need_array);
            my $last = $ci == $#$conns && $ri == $#heads;
            if (!$last) {
                # Like the real runner: with several requests the log is
                # checked after each one, against the lines it added.
                sleep $wait if $wait;
                _check_error_log($block, $rep);
            }
            $req_idx++;
        }
    }
    sleep $wait if $wait;
    _check_error_log($block, $rep);
}

# ---------------------------------------------------------------------------
# Building requests exactly like the real runner
# ---------------------------------------------------------------------------

# Returns a list of connections: { packets => [{value, delay_before}],
# heads => [is-HEAD flag per expected response] }.
sub _requests_for_block {
    my ($block, $run) = @_;
    my $name = $block->name;

    if (defined(my $raw = $run->{raw_request})) {
        my @packets = ref $raw eq 'ARRAY' ? (map { { value => $_ } } @$raw) : ({ value => $raw });
        my $all = join '', map { $_->{value} } @packets;
        return [{ packets => \@packets, heads => [_is_head($all)] }];
    }

    my $more = $run->{more_headers} // '';
    my $headers_for = sub {
        my ($i) = @_;
        my $h = $more;
        if (ref $more eq 'ARRAY') {
            $h = $more->[$i];
            bail_out("$name - --- more_headers lacks data for the ${i}th request") unless defined $h;
        }
        return _parse_more_headers($h);
    };

    if (defined(my $reqs = $run->{pipelined_requests})) {
        bail_out("$name - invalid entries in --- pipelined_requests") unless ref $reqs eq 'ARRAY';
        my ($all, @heads) = ('');
        for my $i (0 .. $#$reqs) {
            my $conn = $i == $#$reqs ? 'close' : 'keep-alive';
            my $p = _build_request($name, $headers_for->($i), $conn, [{ value => $reqs->[$i] }]);
            $all .= join '', map { $_->{value} } @$p;
            push @heads, _is_head($reqs->[$i]);
        }
        return [{ packets => [{ value => $all }], heads => \@heads }];
    }

    my $request = $run->{request};
    bail_out("$name - Request line should be non-empty") unless defined $request;
    if (!ref $request) {
        # Leading comment lines and blanks are dropped (string form only).
        1 while $request =~ s/\A\s*#[^\n]*(?:\n|\z)// || $request =~ s/\A\s+//;
        $request = [$request];
    }
    bail_out("$name - invalid --- request: MUST be string or array of requests")
        unless ref $request eq 'ARRAY';

    my @conns;
    for my $i (0 .. $#$request) {
        my $one = $request->[$i];
        my @packets;
        if (!ref $one) {
            @packets = ({ value => $one });
        } elsif (ref $one eq 'ARRAY') {
            for my $p (@$one) {
                if (!ref $p) { push @packets, { value => $p } }
                elsif (ref $p eq 'HASH') { push @packets, {%$p} }
                else { bail_out("$name - Invalid syntax. $p should be a string or hash with value.") }
            }
        } else {
            bail_out("$name - Invalid syntax. $one should be a string or an array of packets.");
        }
        my $built = _build_request($name, $headers_for->($i), 'close', \@packets);
        push @conns, { packets => $built, heads => [_is_head(join '', map { $_->{value} } @$built)] };
    }
    return \@conns;
}

sub _is_head { ($_[0] // '') =~ /^\s*HEAD\s+/ ? 1 : 0 }

# "Key: value" lines -> CRLF header block; '#' lines are comments.
sub _parse_more_headers {
    my ($in) = @_;
    my ($out, $chunked) = ('', 0);
    for my $line (split /\n+/, $in // '') {
        next if $line =~ /^\s*#/ || $line !~ /\S/;
        my ($key, $val) = split /:\s*/, $line, 2;
        $val //= '';
        $chunked = 1 if lc $key eq 'transfer-encoding' && $val eq 'chunked';
        $out .= "$key: $val\r\n";
    }
    return [$out, $chunked];
}

# Turn "METH [URI [VER]]\nbody" (possibly split in packets) into a full
# request: request line, auto Host/Connection, Content-Length only when the
# body is non-empty and more_headers has none (the body is then trimmed).
sub _build_request {
    my ($name, $hdr, $conn, $packets) = @_;
    my ($more, $chunked) = @$hdr;
    my $orig = join '', map { $_->{value} // '' } @$packets;
    bail_out("$name - Request line should be non-empty") if $orig eq '';

    my ($first, $content) = $orig =~ /\A([^\n]*\n?)(.*)\z/s;
    $first =~ /\A(\s*)(\S+) *(?:(\S+) *)?(?:(\S+) *)?\s*\z/
        or bail_out("$name - Request line is not valid. Should be 'meth [url [version]]' but got \"$first\".");
    my ($lead, $line) = (length $1, join ' ', $2, $3 // '/', $4 // 'HTTP/1.1');

    my ($trimmed, $len_header) = (0, '');
    if (!$chunked && $content ne '' && $more !~ /(?:^|\n)Content-Length:/) {
        $trimmed = length(($content =~ /\A(\s*)/)[0]);
        $content =~ s/^\s+|\s+$//gs;
        $len_header = "Content-Length: " . length($content) . "\r\n";
    }
    my $head = "$line\r\n";
    $head .= "Host: $ServerName\r\n"   if $more !~ /(?:^|\n)Host:/i;
    $head .= "Connection: $conn\r\n"  if $more !~ /(?:^|\n)Connection/i;
    $head .= "$more$len_header\r\n";
    my $new = $head . $content;

    # Keep the packet split (and delays): map each original boundary into
    # the rewritten request.
    my @out;
    my ($prev, $off) = (0, 0);
    for my $i (0 .. $#$packets) {
        $off += length($packets->[$i]{value} // '');
        my $cut;
        if ($i == $#$packets) {
            $cut = length $new;
        } elsif ($off < length $first) {
            $cut = _clamp($off - $lead, 0, length $line);
        } else {
            $cut = length($head) + _clamp($off - length($first) - $trimmed, 0, length $content);
        }
        $cut = $prev if $cut < $prev;
        push @out, { %{ $packets->[$i] }, value => substr($new, $prev, $cut - $prev) };
        $prev = $cut;
    }
    Test::More::diag("request: [$new]") if $Verbose;
    return \@out;
}

sub _clamp { my ($v, $lo, $hi) = @_; $v < $lo ? $lo : $v > $hi ? $hi : $v }

# ---------------------------------------------------------------------------
# Client: raw socket, select() timeouts, read to EOF
# ---------------------------------------------------------------------------

sub _send_request {
    my ($block, $packets, $timeout) = @_;
    my $name = $block->name;
    local $SIG{PIPE} = 'IGNORE';

    my $sock;
    for my $try (1 .. 5) {
        $sock = IO::Socket::INET->new(PeerAddr => $ServerAddr, PeerPort => $ServerPortForClient,
                                      Proto => 'tcp', Timeout => $timeout);
        last if $sock;
        sleep 0.05 * $try;
    }
    if (!$sock) {
        Test::More::fail("$name - Can't connect to $ServerAddr:$ServerPortForClient: $! (aborted)");
        return '';
    }
    $sock->blocking(0);

    my @queue = @$packets;
    my ($buf, $off, $resp, $writing) = (shift(@queue)->{value} // '', 0, '', 1);
    my $sel = IO::Select->new($sock);
    while (1) {
        # Move to the next packet once the current one is written.
        while ($writing && $off >= length $buf) {
            if (!@queue) { $writing = 0; last }
            my $p = shift @queue;
            sleep $p->{delay_before} if $p->{delay_before};
            ($buf, $off) = ($p->{value} // '', 0);
        }
        $! = 0;
        my ($r, $w) = IO::Select->select($sel, $writing ? $sel : undef, undef, $timeout);
        if (!$r && !$w) {
            next if $! == EINTR;
            Test::More::fail("ERROR: client socket timed out - $name\n") unless defined $block->abort;
            last;
        }
        if ($w && @$w) {
            my $n = syswrite $sock, $buf, length($buf) - $off, $off;
            if (defined $n) { $off += $n }
            elsif ($! != EAGAIN && $! != EWOULDBLOCK) { $writing = 0 }   # peer closed; read what it sent
        }
        if ($r && @$r) {
            my $n = sysread $sock, my $chunk, 65536;
            if (!defined $n) {
                next if $! == EAGAIN || $! == EWOULDBLOCK;
                Test::More::diag("WARNING: $name - HTTP response read failure: $!");
                last;
            }
            last if $n == 0;
            $resp .= $chunk;
        }
    }
    close $sock;
    return $resp;
}

# Parse one response from the front of $$buf, leaving the rest there.
# Returns { code, headers => {lc name => [values]}, raw_headers, body }.
sub _parse_response {
    my ($name, $buf, $head_req) = @_;
    my %res = (code => '', headers => {}, raw_headers => '', body => '');
    my $hdr;
    if ($$buf =~ /\A(.*?\r\n)\r\n/s) {
        $hdr = $1;
        substr($$buf, 0, length($hdr) + 2, '');
        $res{raw_headers} = $hdr;
    } else {
        ($hdr, $$buf) = ($$buf, '');        # incomplete: no body
    }
    my ($status, @lines) = split /\r?\n/, $hdr;
    $res{code} = $1 if defined $status && $status =~ m{^HTTP/\d+(?:\.\d+)?\s+(\d+)};
    for (@lines) {
        push @{ $res{headers}{ lc $1 } }, $2 if /^([^:\s]+)\s*:\s*(.*?)\s*$/;
    }

    my $te = _header(\%res, 'transfer-encoding');
    my $cl = _header(\%res, 'content-length');
    if ($head_req || $res{code} =~ /^(?:1\d\d|204|304)$/) {
        # no body
    } elsif (defined $te && $te =~ /\bchunked\b/i) {
        my $body = '';
        while (1) {
            if ($$buf !~ s/\A[ \t]*([0-9a-fA-F]+)[^\r\n]*\r\n//) {
                Test::More::fail(length $$buf ? "$name - invalid chunked body received: $$buf"
                                              : "$name - no last chunk found - $body");
                $$buf = '';
                last;
            }
            my $size = hex $1;
            if ($size == 0) {
                $$buf =~ s/\A(?:[^\r\n]+\r\n)*\r\n//;   # trailers
                last;
            }
            if (length($$buf) < $size + 2) {
                Test::More::fail("$name - invalid chunked data received (not enough octets for the data section)");
                $body .= $$buf;
                $$buf = '';
                last;
            }
            $body .= substr($$buf, 0, $size, '');
            if ($$buf !~ s/\A\r\n//) {
                Test::More::fail("$name - invalid chunked data received (expected CRLF).");
                last;
            }
        }
        $res{body} = $body;
    } elsif (defined $cl && $cl =~ /^\d+$/) {
        if (length $$buf < $cl) {
            Test::More::diag("WARNING: $name - response body truncated: $cl expected, but got "
                             . length($$buf));
        }
        $res{body} = substr($$buf, 0, $cl, '');
    } else {
        ($res{body}, $$buf) = ($$buf, '');
    }
    return \%res;
}

# Header value, case-insensitive; repeated headers joined with ", ".
sub _header {
    my ($res, $key) = @_;
    my $v = $res->{headers}{ lc $key };
    return $v ? join(', ', @$v) : undef;
}

# ---------------------------------------------------------------------------
# Checks (test names as in the real runner)
# ---------------------------------------------------------------------------

sub _indexed {
    my ($name, $value, $idx, $need_array) = @_;
    if (ref $value eq 'ARRAY') {
        return $value->[$idx] if $need_array;
        return $value->[0];
    }
    bail_out("$name - You asked for many requests, the expected results should be arrays as well.")
        if $need_array;
    return $value;
}

sub _subst_port {
    my ($v) = @_;
    return $v if !defined $v || ref $v;
    $v =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
    $v =~ s/\$ServerPort\b/$ServerPort/g;
    return $v;
}

sub _check_response {
    my ($block, $res, $req_idx, $rep, $need_array) = @_;
    my $name = $block->name;
    my $get = sub { _indexed($name, $block->${\ $_[0]}, $req_idx, $need_array) };

    if (defined $block->error_code_like) {
        my $pat = $get->('error_code_like');
        Test::More::like($res->{code}, qr/$pat/sm, "$name - status code ok");
    } else {
        my $want = defined $block->error_code ? $get->('error_code') : 200;
        Test::More::is($res->{code}, $want, "$name - status code ok");
    }

    if (defined $block->raw_response_headers_like) {
        my $pat = $get->('raw_response_headers_like');
        Test::More::like($res->{raw_headers}, qr/$pat/s, "$name - raw resp headers like");
    }
    if (defined $block->raw_response_headers_unlike) {
        my $pat = $get->('raw_response_headers_unlike');
        Test::More::unlike($res->{raw_headers}, qr/$pat/s, "$name - raw resp headers unlike");
    }

    if (defined $block->response_headers) {
        for my $h (_parse_header_lines($get->('response_headers'))) {
            my ($key, $val) = @$h;
            if (!defined $val) {
                Test::More::unlike($res->{raw_headers}, qr/^\s*\Q$key\E\s*:/mi,
                                   "$name - header $key not present in the raw headers");
                next;
            }
            Test::More::is(_header($res, $key) // '', _subst_port($val), "$name - header $key ok");
        }
    }
    if (defined $block->response_headers_like) {
        for my $h (_parse_header_lines($get->('response_headers_like'))) {
            my ($key, $val) = @$h;
            $val //= '';
            Test::More::like(_header($res, $key) // '', qr/^$val$/, "$name - header $key like ok");
        }
    }

    my $body = $res->{body};
    if (defined $block->response_body) {
        my $want = _subst_port($get->('response_body'));
        my $tag = "(repeated req $rep, req $req_idx)";
        if (ref $want) {
            Test::More::like($body, $want, "$name - response_body - like $tag");
        } else {
            Test::More::is($body, $want, "$name - response_body - response is expected $tag");
        }
    }
    for my $type (qw(like unlike)) {
        my $sec = "response_body_$type";
        next unless defined $block->$sec;
        my $pat = _subst_port($get->($sec));
        my $summary = $body;
        $summary =~ s/^\s+|\s+$//g;
        $summary =~ s/\s+/ /g;
        $summary = substr($summary, 0, 200) . '...' if length $summary > 200;
        my $cmp = $type eq 'like' ? \&Test::More::like : \&Test::More::unlike;
        $cmp->($body, qr/$pat/s, "$name - ${sec} - response is expected ($summary)");
    }

    $_->($block, $body, $req_idx, $rep, 0) for @ResponseBodyChecks;
}

# "Key: value" lines; "!Key" (or a bare key) means "must be absent".
sub _parse_header_lines {
    my ($text) = @_;
    my @out;
    for my $line (split /\n/, $text // '') {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        if ($line =~ s/^!\s*//) { push @out, [$line, undef]; next }
        my ($key, $val) = split /\s*:\s*/, $line, 2;
        push @out, [$key, $val];
    }
    return @out;
}

# error.log lines added since the previous check.
sub _error_log_slice {
    sleep 0.05;     # logging after the connection is closed (log phase)
    open my $in, '<', $ErrLogFile or return [];
    seek $in, $ErrLogPos, 0 if $ErrLogPos;
    my @lines = <$in>;
    $ErrLogPos = tell $in;
    close $in;
    return \@lines;
}

sub _patterns {
    my ($pats) = @_;
    return ($pats) if ref $pats eq 'Regexp';
    return @$pats if ref $pats eq 'ARRAY';
    chomp(my $copy = $pats);
    return split /\n+/, $copy;
}

sub _matches { my ($line, $pat) = @_; ref $pat ? $line =~ $pat : index($line, $pat) >= 0 }

sub _contains {
    my ($val, $str) = @_;
    return 0 unless defined $val;
    return scalar grep { _contains($_, $str) } @$val if ref $val eq 'ARRAY';
    return index("$val", $str) >= 0;
}

sub _fmt { my $s = shift; chomp $s; $s =~ s/"/\\"/g; $s =~ s/\r/\\r/g; $s =~ s/\n/\\n/g; $s }

sub _check_error_log {
    my ($block, $rep, $lines, $must_die) = @_;
    my $name = $block->name;
    my $el  = $block->error_log;
    my $nel = $block->no_error_log;
    return unless defined $el || defined $nel || !$must_die;
    $lines //= _error_log_slice();

    if (defined $el) {
        my @pats = _patterns($el);
        for my $line (@$lines) {
            for my $pat (@pats) {
                next unless defined $pat && _matches($line, $pat);
                Test::More::pass("$name - pattern \"$pat\" matches a line in error.log (req $rep)");
                undef $pat;
            }
        }
        for my $pat (grep { defined } @pats) {
            Test::More::fail("$name - pattern \"$pat\" should match a line in error.log (req $rep)");
            Test::More::diag("note: with several requests the error log is checked after each "
                             . "request, against the lines it added")
                if defined $block->pipelined_requests || ref $block->request eq 'ARRAY';
        }
    }

    if (defined $nel) {
        for my $pat (_patterns($nel)) {
            my @hits = grep { _matches($_, $pat) } @$lines;
            my $p = _fmt($pat);
            if (@hits) {
                Test::More::fail("$name - pattern \"$p\" should not match any line in error.log "
                                 . "but matches line \"" . _fmt($hits[0]) . "\" (req $rep)");
                Test::More::diag(scalar(@hits) - 1 . " more matching line(s)") if @hits > 1;
            } else {
                Test::More::pass("$name - pattern \"$p\" does not match a line in error.log (req $rep)");
            }
        }
    }

    # [alert]/[crit]/[emerg]: warnings (failures with OCI_TEST_STRICT_LOG=1)
    # unless the block asks about that level.
    for my $line (@$lines) {
        if ($line =~ /\[(alert|crit|emerg)\]/) {
            my $lvl = $1;
            next if $must_die || _contains($el, "[$lvl") || _contains($nel, "[$lvl");
            if ($ENV{OCI_TEST_STRICT_LOG}) {
                Test::More::fail("$name - unexpected [$lvl] in error.log: " . _fmt($line));
            } else {
                Test::More::diag("WARNING: $name - " . _fmt($line));
            }
        }
        if ($line =~ /\bAssertion .*?failed\b/) {
            Test::More::fail("$name - " . _fmt($line));
        }
    }
}

# Sanitizer reports (ASan/UBSan/...) in stderr.log or error.log fail the block.
sub _check_sanitizer_logs {
    my ($name) = @_;
    for my $file ($StderrFile, $ErrLogFile) {
        open my $in, '<', $file or next;
        my @lines = <$in>;
        close $in;
        for my $i (0 .. $#lines) {
            next unless $lines[$i] =~ /ERROR: \w*Sanitizer|runtime error:/;
            Test::More::fail("$name - sanitizer error in " . (File::Spec->splitpath($file))[2]
                             . ": " . _fmt($lines[$i]));
            my $end = $i + 40 < $#lines ? $i + 40 : $#lines;
            Test::More::diag(join '', @lines[$i .. $end]);
            last;
        }
    }
}

# ---------------------------------------------------------------------------
# Server root, config, nginx process
# ---------------------------------------------------------------------------

sub _setup_servroot {
    if ($FirstStart) {
        $FirstStart = 0;
        _kill_stale_nginx();
    }

    # As the real runner does before every start: remove what it made
    # (conf, cache, html, logs, nginx's *_temp and *_cache) and then the
    # servroot itself, which fails when anything else was left there, say
    # a module's default data directory under nginx's prefix.
    if (-d $ServRoot) {
        remove_tree($ConfDir, $HtmlDir, $LogDir, "$ServRoot/cache",
                    glob("$ServRoot/*_cache"), glob("$ServRoot/*_temp"));
        rmdir $ServRoot
            or bail_out("Can't remove $ServRoot (not empty?): $!");
    }
    make_path($ServRoot, $LogDir, $ConfDir, $HtmlDir);
    _write_file("$HtmlDir/index.html",
                '<html><head><title>It works!</title></head><body>It works!</body></html>');
}

# A previous run of this file may have left its nginx behind.
sub _kill_stale_nginx {
    open my $in, '<', $PidFile or return;
    my $pid = <$in> // '';
    close $in;
    chomp $pid;
    return unless $pid =~ /^\d+$/ && open my $cmd, '<', "/proc/$pid/cmdline";
    my $cmdline = do { local $/; <$cmd> } // '';
    return unless $cmdline =~ /nginx/ && index($cmdline, $ServRoot) >= 0;
    Test::More::diag("killing stale nginx $pid from a previous run");
    kill 'QUIT', $pid;
    for (1 .. 50) { last unless kill 0, $pid; sleep 0.1 }
    kill 'KILL', $pid if kill 0, $pid;
}

sub _write_file {
    my ($path, $data) = @_;
    if ($path =~ m{(.*)/}) { make_path($1) unless -d $1 }
    open my $out, '>', $path or bail_out("Cannot open $path for writing: $!");
    binmode $out;
    print $out $data;
    close $out;
}

# "--- user_files": ">>> path [touch-date]" lines then the content; or an
# arrayref of [path, content, date].  Relative paths go under html/.
sub _write_user_files {
    my ($block, $files) = @_;
    return unless $files;
    my $name = $block->name;
    if (!ref $files) {
        my @list;
        for my $line (split /^/m, $files) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+))?/) { push @list, [$1, '', $2] }
            elsif (@list) { $list[-1][1] .= $line }
        }
        $files = \@list;
    }
    bail_out("$name - wrong value type in --- user_files") unless ref $files eq 'ARRAY';
    for my $f (@$files) {
        my ($fname, $body, $date) = @$f;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        _write_file($path, $body // '');
        if ($date) {
            local $ENV{TZ} = 'GMT';
            system('touch', '-t', $date, $path) == 0 or bail_out("$name - touch -t '$date' $path failed");
        }
    }
}

sub _write_config {
    my ($block, $run) = @_;
    my $level  = $block->log_level || $LogLevel;
    my $master = $MasterOn ? 'on' : 'off';
    my $sname  = $block->server_name // $ServerName;
    $sname =~ s/\\/\\\\/g;
    $sname =~ s/'/\\'/g;

    my $conf = join '', map { "load_module $_;\n" } split ' ', $ENV{TEST_NGINX_LOAD_MODULES} // '';
    $conf .= "worker_processes  $Workers;\ndaemon off;\nmaster_process $master;\n";
    $conf .= "user root;\n" if $MasterOn && $> == 0;
    $conf .= "error_log $ErrLogFile $level;\npid       $PidFile;\n";
    $conf .= "env LD_PRELOAD;\nenv ASAN_OPTIONS;\n";
    $conf .= "env $_;\n" for map { /\s/ ? "'$_'" : $_ } @EnvToNginx;
    $conf .= "\n" . ($run->{main_config} // '') . "\n";
    $conf .= "events {\n    accept_mutex off;\n    worker_connections  $WorkerConnections;\n}\n\n";
    $conf .= "http {\n    access_log $AccLogFile;\n";
    $conf .= "    ${_}_temp_path $ServRoot/${_}_temp;\n" for qw(client_body proxy fastcgi scgi uwsgi);
    $conf .= "    default_type text/plain;\n    keepalive_timeout  68000ms;\n\n";
    $conf .= ($run->{http_config} // '') . "\n";
    $conf .= "    server {\n        listen          $ServerPort;\n        server_name     '$sname';\n\n";
    $conf .= "        client_max_body_size 30M;\n\n        # Begin test case config...\n";
    $conf .= ($run->{config} // '') . "\n        # End test case config.\n\n";
    $conf .= "        location / {\n            root $HtmlDir;\n            index index.html index.htm;\n        }\n"
        unless $NoRootLocation;
    $conf .= "    }\n}\n\n" . ($run->{post_main_config} // '') . "\n";
    _write_file($ConfFile, $conf);
    Test::More::diag("nginx.conf:\n$conf") if $Verbose;
}

sub _find_binary {
    return if $NginxBinary =~ m{/} ? -x $NginxBinary
                                   : grep { -x "$_/$NginxBinary" } split /:/, $ENV{PATH} // '';
    bail_out("Cannot find the nginx executable '$NginxBinary' (set TEST_NGINX_BINARY)");
}

sub _can_connect {
    my $s = IO::Socket::INET->new(PeerAddr => $ServerAddr, PeerPort => $ServerPortForClient,
                                  Proto => 'tcp', Timeout => 0.5);
    return 0 unless $s;
    close $s;
    return 1;
}

# Fork+exec nginx in the foreground (daemon off), stdout/stderr to
# logs/stderr.log; poll connect() for 5 s.  Returns (1) once it listens,
# (0, wait-status) if it exited, (0, -1) if it never listened.
sub _start_nginx {
    my ($name, $must_die) = @_;
    bail_out("$name - port $ServerPortForClient is already in use (set TEST_NGINX_PORT)")
        if _can_connect();
    my @cmd = ($NginxBinary, '-p', "$ServRoot/", '-c', $ConfFile, '-e', $ErrLogFile);
    Test::More::diag("starting: @cmd") if $Verbose;
    my $pid = fork // bail_out("$name - fork() failed: $!");
    if ($pid == 0) {
        setpgrp(0, 0);          # own group: stop() can kill workers too
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $StderrFile;
        open STDERR, '>&', \*STDOUT;
        if (my $preload = $ENV{OCI_TEST_SANITIZE}) {
            $ENV{LD_PRELOAD} = $preload;
            $ENV{ASAN_OPTIONS} //= 'detect_leaks=0';
        }
        exec { $cmd[0] } @cmd or print STDERR "exec $cmd[0] failed: $!\n";
        POSIX::_exit(127);
    }
    ($NginxPid, $NginxName) = ($pid, $name);
    my $deadline = time + 5;
    while (time < $deadline) {
        if (waitpid($pid, WNOHANG) == $pid) {
            my $status = $?;
            undef $NginxPid;
            return (0, $status);
        }
        return (1) if _can_connect();
        sleep 0.02;
    }
    Test::More::diag("$name - nginx did not listen on port $ServerPortForClient within 5 s");
    _stop_nginx();
    return (0, -1);
}

sub _status_str {
    my ($st) = @_;
    return 'never listened' if $st == -1;
    return 'killed by signal ' . ($st & 127) if $st & 127;
    return 'exit code ' . ($st >> 8);
}

sub _startup_log_lines {
    my @lines;
    for my $f ($ErrLogFile, $StderrFile) {
        open my $in, '<', $f or next;
        push @lines, <$in>;
        close $in;
    }
    return @lines;
}

# QUIT, wait up to 5 s, then KILL the whole process group.  A nginx that
# already exited on its own (crash) fails the block that started it.
sub _stop_nginx {
    return unless $NginxPid;
    my ($pid, $name) = ($NginxPid, $NginxName);
    undef $NginxPid;
    if (waitpid($pid, WNOHANG) == $pid) {
        Test::More::fail("$name - nginx exited unexpectedly (" . _status_str($?) . ")");
    } else {
        kill 'QUIT', $pid;
        my $deadline = time + 5;
        my $gone = 0;
        while (time < $deadline) {
            if (waitpid($pid, WNOHANG) == $pid) { $gone = 1; last }
            sleep 0.02;
        }
        if (!$gone) {
            Test::More::diag("$name - timeout when waiting for nginx $pid to exit; killing it");
            kill 'KILL', -$pid;
            waitpid($pid, 0);
        }
    }
    _check_sanitizer_logs($name);
}

sub cleanup {
    return if $$ != $MainPid;
    $_->() for @CleanupHandlers;
    @CleanupHandlers = ();
    _stop_nginx() unless $ENV{TEST_NGINX_NO_CLEAN};
}

END {
    if ($$ == $MainPid) {
        local $?;
        cleanup();
        remove_tree($ServRoot) if $ENV{TEST_NGINX_RANDOMIZE} && $ServRoot =~ m{/t/servroot_\d+$};
    }
}

# ---------------------------------------------------------------------------
# Misc helpers
# ---------------------------------------------------------------------------

# "50ms", "2s" or plain seconds.
sub _parse_time {
    my ($t) = @_;
    return undef unless defined $t && $t =~ /\S/;
    return $1 / 1000 if $t =~ /^\s*([\d.]+)\s*ms\s*$/;
    return $1 if $t =~ /^\s*([\d.]+)\s*s?\s*$/;
    die "bad time value: $t\n";
}

sub _free_port {
    my (%used) = map { $_ => 1 } @_;
    for (1 .. 20) {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
                                      Listen => 1) or next;
        my $port = $s->sockport;
        close $s;
        return $port unless $used{$port};
    }
    bail_out("Cannot find an available listening port");
}

# $TEST_NGINX_* in strings (recursively in arrays and packet hashes);
# an unset variable bails out, $TEST_NGINX_RAND_PORT_N picks a free port.
sub _expand_env {
    my ($v, $name, $ports) = @_;
    return $v unless defined $v;
    return [map { _expand_env($_, $name, $ports) } @$v] if ref $v eq 'ARRAY';
    return { %$v, value => _expand_env($v->{value}, $name, $ports) } if ref $v eq 'HASH';
    return $v if ref $v;
    $v =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        if ($var =~ /^TEST_NGINX_RAND_PORT_\d+$/) {
            $ports->{$var} //= _free_port($ServerPort, values %$ports);
        } else {
            defined $ENV{$var} or bail_out("$name - No environment $var defined.\n");
            $ENV{$var};
        }
    }ge;
    return $v;
}

# String evals of "eval" filters and "--- init" run here, under strict, in
# a package of their own: like the real runner (Test::Base::Filter), a
# main:: variable or function must be written $::x / main::f().
package Test::Nginx::Socket::Sandbox {
    sub run {
        my $__code = $_[0];
        my $__where = $_[1] =~ s/["\n]/ /gr;
        my @__r = eval "use strict; use warnings;\n#line 1 \"$__where\"\n$__code";
        die "eval failed in $__where: $@" if $@;
        return $__r[0];
    }
}

1;
