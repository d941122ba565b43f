# kill -9 of an nginx worker, then of the master and all its workers,
# during 24 concurrent pushes (monolithic and chunked, small and large).
# After the restart: every push that got its 201 is pullable with the
# right bytes; no blob file anywhere is partial; interrupted chunked
# uploads resume from the offset the registry reports (or are refused
# cleanly); abandoned upload files are swept after the upload TTL.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use File::Find;
use Digest::SHA qw(sha256_hex);
use POSIX ();
use Time::HiRes qw(sleep time);
use JSON::PP;
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Registry qw(registry_config sha256);

my $tmp = tempdir(CLEANUP => 1);
my $storage = "$tmp/storage";
mkdir $storage;
my $redis = OciTest::Redis->start();
my $t = OciTest::Nginx->new();
$t->set(STORAGE => $storage, REDIS => $redis->port);
$t->write_config(registry_config(workers => 2,
                                 extra => 'oci_registry_upload_ttl 3s;'));
$t->start;

# a pusher: runs in a child, appends one JSON line per step to its log
sub pusher {
    my ($i) = @_;
    my $http = HTTP::Tiny->new(timeout => 10, keep_alive => 0);
    my $size = $i % 3 == 0 ? 6_000_000 : 1_000_000 + $i * 1000;
    my $blob = join '', map { chr(($_ * 131 + $i) % 256) } 1 .. 1000;
    $blob = substr($blob x (int($size / 1000) + 1), 0, $size);
    my $d = sha256($blob);
    my @log = ({ i => $i, digest => $d, size => $size });
    my $url = $t->url('');
    if ($i % 2) {
        # streamed slowly, so that the kills find it in flight
        my $off = 0;
        my $r = $http->request('POST', "$url/v2/crash/app/blobs/uploads/?digest=$d",
            { content => sub {
                  return undef if $off >= $size;
                  select(undef, undef, undef, 0.02);
                  my $piece = substr($blob, $off, 100_000);
                  $off += length $piece;
                  return $piece } });
        push @log, { step => 'monolithic', status => $r->{status} };
    } else {
        my $r = $http->request('POST', "$url/v2/crash/app/blobs/uploads/");
        my $loc = $r->{headers}{location};
        push @log, { step => 'post', status => $r->{status}, loc => $loc };
        if ($loc) {
            my $chunk = 500_000;
            my $off = 0;
            while ($off < $size) {
                my $part = substr($blob, $off, $chunk);
                $r = $http->request('PATCH', "$url$loc",
                    { content => $part,
                      headers => { 'Content-Range' => $off . '-' . ($off + length($part) - 1) } });
                push @log, { step => 'patch', status => $r->{status}, off => $off };
                last unless $r->{status} == 202;
                $loc = $r->{headers}{location};
                $off += length $part;
                select(undef, undef, undef, 0.15);
            }
            if ($off >= $size) {
                $r = $http->request('PUT', "$url$loc?digest=$d");
                push @log, { step => 'put', status => $r->{status} };
            }
            $log[0]{loc} = $loc;
        }
    }
    return \@log;
}

my @kids;
for my $i (1 .. 24) {
    my $pid = fork // die;
    if (!$pid) {
        my $log = eval { pusher($i) } || [ { i => $i, error => "$@" } ];
        open my $f, '>', "$tmp/log.$i" or POSIX::_exit(1);
        print $f encode_json($log);
        close $f;
        POSIX::_exit(0);
    }
    push @kids, $pid;
}

sleep 0.5;
my @workers = $t->worker_pids;
kill 'KILL', $workers[0];
note "killed worker $workers[0]";
sleep 0.5;
my @all = $t->kill9;
note "killed master and workers @all";
waitpid $_, 0 for @kids;

# the restart: the pid file is stale, nginx must start anyway
$t->start;
my $http = $t->http;

my (@acked, @interrupted, @unfinished);
for my $i (1 .. 24) {
    my $log = decode_json(do { local (@ARGV, $/) = "$tmp/log.$i"; <> });
    my $head = $log->[0];
    my $last = $log->[-1];
    if (($last->{step} // '') =~ /^(monolithic|put)$/ && $last->{status} == 201) {
        push @acked, $head;
    } elsif ($head->{loc}) {
        push @interrupted, $head;
    } else {
        push @unfinished, $head;
    }
}
note scalar(@acked) . ' acknowledged, ' . scalar(@interrupted)
   . ' interrupted chunked, ' . scalar(@unfinished) . ' other';
cmp_ok(scalar @acked, '>', 0, 'some pushes were acknowledged');
cmp_ok(scalar(@interrupted) + scalar(@unfinished), '>', 0, 'some were interrupted');

for my $h (@acked) {
    my $r = $http->get($t->url("/v2/crash/app/blobs/$h->{digest}"));
    ok($r->{status} == 200 && sha256($r->{content}) eq $h->{digest},
       "acknowledged push $h->{i} ($h->{size} bytes) is whole after the crash");
}

# no blob file anywhere is partial: every file's bytes hash to its name
my ($files, $bad) = (0, 0);
find(sub {
    return unless -f $_;
    $files++;
    open my $f, '<', $_ or die;
    binmode $f;
    my $sha = Digest::SHA->new(256);
    $sha->addfile($f);
    $bad++ unless $sha->hexdigest eq $_;
}, "$storage/blobs");
cmp_ok($files, '>=', scalar @acked, "$files blob files on disk");
is($bad, 0, 'every blob file matches its digest');

# interrupted chunked uploads: resume from the reported offset
my ($resumed, $refused) = (0, 0);
for my $h (@interrupted) {
    my $r = $http->get($t->url($h->{loc}));
    if ($r->{status} == 404) { $refused++; next }
    my ($end) = ($r->{headers}{range} // '') =~ /^0-(\d+)$/;
    my $off = ($end // 0) == 0 ? 0 : $end + 1;
    my $blob = join '', map { chr(($_ * 131 + $h->{i}) % 256) } 1 .. 1000;
    $blob = substr($blob x (int($h->{size} / 1000) + 1), 0, $h->{size});
    $r = $http->request('PUT', $t->url("$h->{loc}?digest=$h->{digest}"),
        { content => substr($blob, $off),
          headers => { 'Content-Range' => "$off-" . ($h->{size} - 1) } });
    if ($r->{status} == 201) {
        my $g = $http->get($t->url("/v2/crash/app/blobs/$h->{digest}"));
        ok(sha256($g->{content}) eq $h->{digest}, "upload $h->{i} resumed at $off and is whole");
        $resumed++;
    } else {
        like($r->{content}, qr/"code":"[A-Z_]+"/, "upload $h->{i} refused cleanly ($r->{status})");
        $refused++;
    }
}
note "$resumed resumed, $refused refused";

# leftovers of uploads nobody resumes are swept after the TTL
sleep 4.5;
opendir(my $d, "$storage/_uploads") or die;
my @left = grep { !/^\./ } readdir $d;
is(scalar @left, 0, 'abandoned upload files were swept');

$t->stop;
$t->allow_log(qr/worker process \d+ exited on signal 9/,
              qr/was locked by a dead process/);
$t->check_logs;
done_testing();
