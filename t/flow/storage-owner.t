# The master runs as root; the workers as an unprivileged user who owns
# _uploads/ and blobs/.  The master must never follow a link that user
# could have planted: the storage root stays root's, and where an older
# version left it to the worker user, a symlinked _uploads is refused
# (not chowned through) and a file planted at the key's temporary name is
# not truncated through.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep);
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Registry qw(registry_config sha256 push_blob);

plan skip_all => 'the master must run as root' if $> != 0;

my ($uid, $gid) = (getpwnam('nobody'))[2, 3];
plan skip_all => 'no user "nobody"' unless defined $uid;
my $group = getgrgid($gid) // 'nogroup';

# a directory every user can traverse (tempdir is 0700)
my $tmp = tempdir(CLEANUP => 1);
chmod 0755, $tmp;
my $storage = "$tmp/storage";
my $redis = OciTest::Redis->start();
my $t = OciTest::Nginx->new(user => "nobody $group");
chmod 0755, $t->dir;
$t->set(STORAGE => $storage, REDIS => $redis->port);
$t->write_config(registry_config());
$t->start;

sub owner { (lstat $_[0])[4] // -1 }
sub mode  { ((lstat $_[0])[2] // 0) & 07777 }

is(owner($storage), 0, 'the storage root the master made is root\'s');
is(owner("$storage/_uploads"), $uid, '_uploads is the worker user\'s');
is(owner("$storage/blobs"), $uid, 'blobs is the worker user\'s');
is(owner("$storage/upload-id.key"), 0, 'the upload id key is root\'s');
is(mode("$storage/upload-id.key"), 0600, '  mode 0600');
is(push_blob($t, 'own/app', 'bytes of a blob')->{status}, 201,
   'workers as nobody push a blob');
is(owner("$storage/blobs/sha256"), $uid, '  into directories of their own');

# --- an older version gave the root to the worker user: now that user
# plants links where the master (root) creates and opens things

chown $uid, $gid, $storage or die "chown: $!";

my $victim_file = "$tmp/precious";
open my $f, '>', $victim_file or die;
print $f "precious root data\n";
close $f;
chmod 0644, $victim_file;

unlink "$storage/upload-id.key" or die "unlink: $!";
my $master = $t->pid;
symlink $victim_file, "$storage/upload-id.key.$master" or die "symlink: $!";
lchown($uid, $gid, "$storage/upload-id.key.$master");

$t->reload;

open $f, '<', $victim_file or die;
is(scalar <$f>, "precious root data\n",
   'a link at the key\'s old temporary name: the file it names is untouched');
close $f;
ok(-f "$storage/upload-id.key" && !-l "$storage/upload-id.key",
   'the key was made anew, as a file of its own');
is(owner("$storage/upload-id.key"), 0, '  root\'s');

my $victim_dir = "$tmp/root-only";
mkdir $victim_dir or die;
chmod 0755, $victim_dir;
rename "$storage/_uploads", "$storage/_uploads.old" or die;
symlink $victim_dir, "$storage/_uploads" or die;
lchown($uid, $gid, "$storage/_uploads");

my $log = length $t->error_log;
$t->reload;

is(owner($victim_dir), 0, 'a symlinked _uploads: the directory it names stays root\'s');
like(substr($t->error_log, $log), qr/_uploads.*(?:symbolic link|not a directory)/,
     '  and the reload says why it was refused');
$t->allow_log(qr/\[emerg\].*_uploads/);

is($t->http->get($t->url('/v2/'))->{status}, 200, 'the running registry answers on');

# --- no "user" directive, as in conf/nginx.conf: nginx runs the workers
# as its default user (nobody), so that user gets _uploads and blobs

my $storage2 = "$tmp/storage2";
my $t2 = OciTest::Nginx->new(user => '');
chmod 0755, $t2->dir;
$t2->set(STORAGE => $storage2, REDIS => $redis->port);
$t2->write_config(registry_config());
$t2->start;

is(owner("$storage2/_uploads"), $uid,
   'no user directive: _uploads is nginx\'s default user\'s (nobody)');
is(owner("$storage2/blobs"), $uid, '  and blobs');
is(push_blob($t2, 'own/default', 'bytes of another blob')->{status}, 201,
   '  whose workers push a blob');
$t2->stop;

done_testing;

sub lchown {
    my ($u, $g, $path) = @_;
    system('chown', '-h', "$u:$g", $path) == 0 or die "chown -h $path";
}
