package OciTest::Images;

# Builds OCI image layouts from scratch with umoci (no network here), for
# the end-to-end tests with real clients.

use strict;
use warnings;
use Exporter 'import';
use File::Path qw(make_path);
use JSON::PP;
use Digest::SHA qw(sha256_hex);

our @EXPORT_OK = qw(run build_image make_index layout_manifest read_blob
                    have start_containerd);

sub have { my ($bin) = @_; !system("command -v $bin >/dev/null 2>&1") }

# run a command, die with its output when it fails
sub run {
    my (@cmd) = @_;
    my $out = `@cmd 2>&1`;
    die "command failed ($?): @cmd\n$out" if $?;
    return $out;
}

# An image with one layer per entry of %files (name => bytes), tagged
# $tag in the layout $dir; $arch sets the config's architecture.
sub build_image {
    my ($dir, $tag, $arch, @layers) = @_;
    run('umoci', 'init', '--layout', $dir) unless -e "$dir/oci-layout";
    run('umoci', 'new', '--image', "$dir:$tag");
    run('umoci', 'config', '--image', "$dir:$tag",
        '--architecture', $arch, '--os', 'linux') if $arch;
    my $n = 0;
    for my $files (@layers) {
        my $root = "$dir.rootfs." . $n++;
        for my $name (keys %$files) {
            make_path("$root/data");
            open my $f, '>', "$root/data/$name" or die "$root/data/$name: $!";
            binmode $f;
            print $f $files->{$name};
            close $f;
        }
        run('umoci', 'insert', '--image', "$dir:$tag", "$root/data",
            "/layer$n");
        run('rm', '-rf', $root);
    }
}

sub read_blob {
    my ($dir, $digest) = @_;
    (my $hex = $digest) =~ s/^sha256://;
    open my $f, '<', "$dir/blobs/sha256/$hex" or die "$digest: $!";
    binmode $f;
    local $/;
    return scalar <$f>;
}

sub write_blob {
    my ($dir, $bytes) = @_;
    my $hex = sha256_hex($bytes);
    open my $f, '>', "$dir/blobs/sha256/$hex" or die $!;
    binmode $f;
    print $f $bytes;
    close $f;
    return ("sha256:$hex", length $bytes);
}

# the manifest descriptor a tag points at in index.json
sub layout_manifest {
    my ($dir, $tag) = @_;
    my $index = decode_json(read_file("$dir/index.json"));
    for my $m (@{ $index->{manifests} }) {
        return $m if ($m->{annotations}{'org.opencontainers.image.ref.name'} // '') eq $tag;
    }
    die "no tag $tag in $dir";
}

# A private containerd (root, state and socket in $dir, no CRI plugin);
# returns its pid once its socket is there (or after 5 s: the caller
# checks the socket), stops it with TERM and talks to it with
# ctr --address $dir/containerd.sock.
sub start_containerd {
    my ($dir) = @_;
    make_path($dir);
    open my $c, '>', "$dir/config.toml" or die "$dir/config.toml: $!";
    print $c <<"EOF";
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$dir/containerd.sock"
EOF
    close $c;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>', "$dir/log"; open STDERR, '>&', \*STDOUT;
        { exec 'containerd', '--config', "$dir/config.toml" }
        require POSIX;
        POSIX::_exit(127);
    }
    for (1 .. 100) {
        return $pid if -S "$dir/containerd.sock";
        select(undef, undef, undef, 0.05);
    }
    return $pid;
}

sub read_file { open my $f, '<', $_[0] or die "$_[0]: $!"; local $/; scalar <$f> }

# An image index over the given tags (each with its platform), added to
# the layout under $tag.
sub make_index {
    my ($dir, $tag, %platforms) = @_;
    my @m;
    for my $t (sort keys %platforms) {
        my $d = layout_manifest($dir, $t);
        push @m, { mediaType => $d->{mediaType}, digest => $d->{digest},
                   size => $d->{size},
                   platform => { architecture => $platforms{$t}, os => 'linux' } };
    }
    my $json = JSON::PP->new->canonical;
    my ($digest, $size) = write_blob($dir, $json->encode({
        schemaVersion => 2,
        mediaType => 'application/vnd.oci.image.index.v1+json',
        manifests => \@m }));
    my $index = decode_json(read_file("$dir/index.json"));
    push @{ $index->{manifests} }, {
        mediaType => 'application/vnd.oci.image.index.v1+json',
        digest => $digest, size => $size,
        annotations => { 'org.opencontainers.image.ref.name' => $tag } };
    open my $f, '>', "$dir/index.json" or die $!;
    print $f $json->encode($index);
    close $f;
    return $digest;
}

1;
