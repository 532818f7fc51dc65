# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_extwatch_global_optspecs
    string join \n h/help V/version
end

function __fish_extwatch_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_extwatch_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_extwatch_using_subcommand
    set -l cmd (__fish_extwatch_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c extwatch -n "__fish_extwatch_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c extwatch -n "__fish_extwatch_needs_command" -s V -l version -d 'Print version'
complete -c extwatch -n "__fish_extwatch_needs_command" -f -a "inventory" -d 'List every extension image, where it sits, whether systemd would use it, and what is merged'
complete -c extwatch -n "__fish_extwatch_needs_command" -f -a "audit" -d 'The main job: inventory plus every check, as findings with severities and 800-53 controls'
complete -c extwatch -n "__fish_extwatch_needs_command" -f -a "verify" -d 'Deep check of image files (no host needed): partitions, file system, extension-release, verity recomputation, signature and signer. Exit 1 on any integrity failure'
complete -c extwatch -n "__fish_extwatch_needs_command" -f -a "checks" -d 'Show the check catalogue: ids, default severities, controls'
complete -c extwatch -n "__fish_extwatch_needs_command" -f -a "schema" -d 'Print the JSON Schema of the report (`--format json` output)'
complete -c extwatch -n "__fish_extwatch_needs_command" -f -a "files" -d 'List every entry of one image (directory, squashfs, erofs or DDI) without mounting it: types, modes, owners, sizes, link targets, capabilities, SELinux labels, overlay whiteouts, optionally SHA-256 (`--hash`); `--format mtree` prints what `systemd-dissect --mtree` prints'
complete -c extwatch -n "__fish_extwatch_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c extwatch -n "__fish_extwatch_using_subcommand inventory" -l root -d 'Audit this root directory (an extracted or mounted offline copy) instead of the live host. Paths inside it — symlinks included — are resolved inside it, never outside' -r -F
complete -c extwatch -n "__fish_extwatch_using_subcommand inventory" -l systemd-version -d 'Apply the rules of this systemd version (e.g. 252, 257, 257.13). Default: detected from the root\'s libsystemd-shared-NNN.so (and the point release from the banner in /usr/lib/systemd/systemd); 257 when nothing is found. Discovery paths, name derivation, symlink handling, ID_LIKE matching and merge markers all depend on it' -r
complete -c extwatch -n "__fish_extwatch_using_subcommand inventory" -l mountinfo -d 'Read merged state from this mount table (a captured /proc/PID/mountinfo). Mounts under --root count as the root\'s own. Default: /proc/self/mountinfo' -r -F
complete -c extwatch -n "__fish_extwatch_using_subcommand inventory" -l architecture -d 'Judge ARCHITECTURE= against this architecture (systemd\'s names: x86-64, arm64, ...) instead of the machine extwatch runs on' -r
complete -c extwatch -n "__fish_extwatch_using_subcommand inventory" -l format -d 'Output format: a table for people, JSON (schema extwatch/v1) for scripts' -r -f -a "table\t''
json\t''"
complete -c extwatch -n "__fish_extwatch_using_subcommand inventory" -l trust -d 'Your own trusted signing certificates (a directory of .crt/.pem, or one file) on this machine. Signatures are judged against them; the host\'s verity.d (root-writable, so an attacker can add a certificate there) is judged separately and disagreement is a finding' -r -F
complete -c extwatch -n "__fish_extwatch_using_subcommand inventory" -l initrd -d 'Apply the initrd\'s rules (search directories /.extra/sysext etc., scope `initrd`): `auto` when the root has /etc/initrd-release, as the booted system decides. `no` mirrors `systemd-sysext --root=` up to v258, which asks whether the *running* system is an initrd' -r -f -a "auto\t''
yes\t''
no\t''"
complete -c extwatch -n "__fish_extwatch_using_subcommand inventory" -l deep -d 'Recompute every image\'s dm-verity hash tree and compare it with the declared root hash and the stored tree. This reads every data block of every image: seconds per GiB, which adds up on hosts with many or large images. Without it, signatures are still verified over the declared hash'
complete -c extwatch -n "__fish_extwatch_using_subcommand inventory" -s v -l verbose -d 'Print warnings (unreadable directories, missing mount table) to stderr'
complete -c extwatch -n "__fish_extwatch_using_subcommand inventory" -s h -l help -d 'Print help'
complete -c extwatch -n "__fish_extwatch_using_subcommand audit" -l root -d 'Audit this root directory (an extracted or mounted offline copy) instead of the live host. Paths inside it — symlinks included — are resolved inside it, never outside' -r -F
complete -c extwatch -n "__fish_extwatch_using_subcommand audit" -l systemd-version -d 'Apply the rules of this systemd version (e.g. 252, 257, 257.13). Default: detected from the root\'s libsystemd-shared-NNN.so (and the point release from the banner in /usr/lib/systemd/systemd); 257 when nothing is found. Discovery paths, name derivation, symlink handling, ID_LIKE matching and merge markers all depend on it' -r
complete -c extwatch -n "__fish_extwatch_using_subcommand audit" -l mountinfo -d 'Read merged state from this mount table (a captured /proc/PID/mountinfo). Mounts under --root count as the root\'s own. Default: /proc/self/mountinfo' -r -F
complete -c extwatch -n "__fish_extwatch_using_subcommand audit" -l architecture -d 'Judge ARCHITECTURE= against this architecture (systemd\'s names: x86-64, arm64, ...) instead of the machine extwatch runs on' -r
complete -c extwatch -n "__fish_extwatch_using_subcommand audit" -l format -d 'Output format: a table for people, JSON (schema extwatch/v1) for scripts' -r -f -a "table\t''
json\t''"
complete -c extwatch -n "__fish_extwatch_using_subcommand audit" -l trust -d 'Your own trusted signing certificates (a directory of .crt/.pem, or one file) on this machine. Signatures are judged against them; the host\'s verity.d (root-writable, so an attacker can add a certificate there) is judged separately and disagreement is a finding' -r -F
complete -c extwatch -n "__fish_extwatch_using_subcommand audit" -l initrd -d 'Apply the initrd\'s rules (search directories /.extra/sysext etc., scope `initrd`): `auto` when the root has /etc/initrd-release, as the booted system decides. `no` mirrors `systemd-sysext --root=` up to v258, which asks whether the *running* system is an initrd' -r -f -a "auto\t''
yes\t''
no\t''"
complete -c extwatch -n "__fish_extwatch_using_subcommand audit" -l fail-on -d 'Exit 1 when a finding has at least this severity ("none" never fails)' -r -f -a "none\t''
info\t''
low\t''
medium\t''
high\t''
critical\t''"
complete -c extwatch -n "__fish_extwatch_using_subcommand audit" -l baseline -d 'Also write the FIM blind-spot export to FILE: the base-only and the merged manifests of /usr, /opt and /etc, every merged entry tagged with the layer it comes from (schema extwatch/v1-baseline). Hashes every file of those trees, so it takes longer' -r -F
complete -c extwatch -n "__fish_extwatch_using_subcommand audit" -l only -d 'Run only these checks (ids as `extwatch checks` lists them; repeat the option or separate ids with commas). Checks not run are absent from the report' -r
complete -c extwatch -n "__fish_extwatch_using_subcommand audit" -l skip -d 'Do not run these checks (repeatable, comma-separated); applied after --only' -r
complete -c extwatch -n "__fish_extwatch_using_subcommand audit" -l deep -d 'Recompute every image\'s dm-verity hash tree and compare it with the declared root hash and the stored tree. This reads every data block of every image: seconds per GiB, which adds up on hosts with many or large images. Without it, signatures are still verified over the declared hash'
complete -c extwatch -n "__fish_extwatch_using_subcommand audit" -s v -l verbose -d 'Print warnings (unreadable directories, missing mount table) to stderr'
complete -c extwatch -n "__fish_extwatch_using_subcommand audit" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c extwatch -n "__fish_extwatch_using_subcommand verify" -l trust -d 'Trusted signing certificates: a directory of .crt/.pem files, or one file. Without it no signature can be `valid`; the signer is still named when it can be identified' -r -F
complete -c extwatch -n "__fish_extwatch_using_subcommand verify" -l architecture -d 'Architecture used to pick DDI partitions (systemd\'s names)' -r
complete -c extwatch -n "__fish_extwatch_using_subcommand verify" -l format -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c extwatch -n "__fish_extwatch_using_subcommand verify" -l sha256 -d 'Always compute the SHA-256 of each whole image file (to match a ticket or a download manifest). By default it is computed only for images whose verity hash tree was not recomputed: a recomputed verity root hash already identifies the content, and the whole-file hash is one sequential stream that would bound the run\'s wall time'
complete -c extwatch -n "__fish_extwatch_using_subcommand verify" -s h -l help -d 'Print help'
complete -c extwatch -n "__fish_extwatch_using_subcommand checks" -l format -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c extwatch -n "__fish_extwatch_using_subcommand checks" -l list -d 'List the checks (the default; kept for scripts that pass it)'
complete -c extwatch -n "__fish_extwatch_using_subcommand checks" -s h -l help -d 'Print help'
complete -c extwatch -n "__fish_extwatch_using_subcommand schema" -s h -l help -d 'Print help'
complete -c extwatch -n "__fish_extwatch_using_subcommand files" -l format -d 'Output format (`mtree` matches `systemd-dissect --mtree`, which always hashes)' -r -f -a "table\t'One line per entry, fitting 100 columns'
json\t'The `FilesReport` JSON object'
mtree\t'Exactly what `systemd-dissect --mtree IMAGE` prints (systemd 257)'"
complete -c extwatch -n "__fish_extwatch_using_subcommand files" -l architecture -d 'Architecture used to pick the DDI partition (systemd\'s names, e.g. x86-64, arm64)' -r
complete -c extwatch -n "__fish_extwatch_using_subcommand files" -l root -d 'Resolve IMAGE inside this root directory (an offline root), symlinks included, as an audit with `--root` does: e.g. `--root /mnt/disk /var/lib/extensions/foo.raw`' -r -F
complete -c extwatch -n "__fish_extwatch_using_subcommand files" -l threads -d 'Hashing threads (default: available CPUs)' -r
complete -c extwatch -n "__fish_extwatch_using_subcommand files" -l hash -d 'Compute the SHA-256 of every regular file (in parallel, streaming)'
complete -c extwatch -n "__fish_extwatch_using_subcommand files" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c extwatch -n "__fish_extwatch_using_subcommand help; and not __fish_seen_subcommand_from inventory audit verify checks schema files help" -f -a "inventory" -d 'List every extension image, where it sits, whether systemd would use it, and what is merged'
complete -c extwatch -n "__fish_extwatch_using_subcommand help; and not __fish_seen_subcommand_from inventory audit verify checks schema files help" -f -a "audit" -d 'The main job: inventory plus every check, as findings with severities and 800-53 controls'
complete -c extwatch -n "__fish_extwatch_using_subcommand help; and not __fish_seen_subcommand_from inventory audit verify checks schema files help" -f -a "verify" -d 'Deep check of image files (no host needed): partitions, file system, extension-release, verity recomputation, signature and signer. Exit 1 on any integrity failure'
complete -c extwatch -n "__fish_extwatch_using_subcommand help; and not __fish_seen_subcommand_from inventory audit verify checks schema files help" -f -a "checks" -d 'Show the check catalogue: ids, default severities, controls'
complete -c extwatch -n "__fish_extwatch_using_subcommand help; and not __fish_seen_subcommand_from inventory audit verify checks schema files help" -f -a "schema" -d 'Print the JSON Schema of the report (`--format json` output)'
complete -c extwatch -n "__fish_extwatch_using_subcommand help; and not __fish_seen_subcommand_from inventory audit verify checks schema files help" -f -a "files" -d 'List every entry of one image (directory, squashfs, erofs or DDI) without mounting it: types, modes, owners, sizes, link targets, capabilities, SELinux labels, overlay whiteouts, optionally SHA-256 (`--hash`); `--format mtree` prints what `systemd-dissect --mtree` prints'
complete -c extwatch -n "__fish_extwatch_using_subcommand help; and not __fish_seen_subcommand_from inventory audit verify checks schema files help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
