# Concurrent clients end in a consistent state: the same blob pushed by
# many at once, the same tag moved by many at once, and pulls racing a
# delete see whole blobs or 404, never a partial one.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP;
use POSIX ();
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Registry qw(registry_redis registry_config sha256 push_blob
                         put_manifest);

my $redis = registry_redis();
my $t = OciTest::Nginx->new();
my $storage = tempdir(CLEANUP => 1);
$t->set(STORAGE => $storage, REDIS => $redis->port);
$t->write_config(registry_config(workers => 2));
$t->start;
my $http = $t->http;

# run $n children at once; each returns a status line on a pipe
sub parallel {
    my ($n, $code) = @_;
    my @pipes;
    for my $i (1 .. $n) {
        pipe(my $rd, my $wr) or die;
        my $pid = fork // die;
        if (!$pid) {
            close $rd;
            print $wr $code->($i);
            close $wr;
            POSIX::_exit(0);
        }
        close $wr;
        push @pipes, [$pid, $rd];
    }
    my @out;
    for (@pipes) { my ($pid, $rd) = @$_; local $/; push @out, scalar <$rd>;
                   waitpid $pid, 0 }
    return @out;
}

my $blob = 'x' x 2_000_000;
my $d = sha256($blob);

my @st = parallel(8, sub { push_blob($t, 'conc/app', $blob)->{status} });
is_deeply([ sort @st ], [ (201) x 8 ], 'eight pushes of one blob: all 201');
ok($http->get($t->url("/v2/conc/app/blobs/$d"))->{content} eq $blob,
   'the blob is whole');

my $cfg = '{}';
push_blob($t, 'conc/app', $cfg);
my @m = map {
    '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
    . '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"'
    . sha256($cfg) . '","size":2},"layers":[],"annotations":{"n":"' . $_ . '"}}'
} 1 .. 8;

@st = parallel(8, sub { put_manifest($t, 'conc/app', 'latest', $m[$_[0] - 1])->{status} });
is_deeply([ sort @st ], [ (201) x 8 ], 'eight pushes to one tag: all 201');

my $r = $http->get($t->url('/v2/conc/app/manifests/latest'));
my $winner = $r->{headers}{'docker-content-digest'};
ok((grep { sha256($_) eq $winner } @m), 'the tag points at one of them');
is_deeply(decode_json($http->get($t->url('/v2/conc/app/tags/list'))->{content})->{tags},
          ['latest'], 'listed once');
for my $i (0 .. 7) {
    is($http->get($t->url('/v2/conc/app/manifests/' . sha256($m[$i])))->{status},
       200, "manifest $i still there by digest");
}

# only the winner carries the tag in the reverse index
my $base = 'oci:{conc/app}:';
is_deeply($redis->cmd('SMEMBERS', "${base}digesttags:$winner"), ['latest'],
          'reverse index: the winner has the tag');
my $others = 0;
$others += scalar @{ $redis->cmd('SMEMBERS', "${base}digesttags:" . sha256($_)) }
    for grep { sha256($_) ne $winner } @m;
is($others, 0, 'reverse index: no loser kept it');

# pulls racing a delete
my @res = parallel(6, sub {
    my $i = shift;
    if ($i == 1) {
        select(undef, undef, undef, 0.05);
        return 'D' . $http->request('DELETE', $t->url("/v2/conc/app/blobs/$d"))->{status};
    }
    my @s;
    for (1 .. 20) {
        my $g = $http->get($t->url("/v2/conc/app/blobs/$d"));
        push @s, $g->{status} == 200 ? (length($g->{content}) == length($blob) ? 'full' : 'PARTIAL')
                                     : $g->{status};
    }
    return join ',', @s;
});
is(shift @res, 'D202', 'the delete went through');
my @all = map { split /,/ } @res;
is((grep { $_ eq 'PARTIAL' } @all), 0, 'no pull saw a partial blob');
is((grep { $_ ne 'full' && $_ ne '404' } @all), 0, 'every pull: whole blob or 404');

$t->stop;
$t->check_logs;
done_testing();
