//! TEST ONLY: realistic wrong answers to the chapters' steps, each one step
//! function swapped for a mistaken one. `MINI_DOCKER_MUTANT=NAME` selects one
//! (tests/mutants.rs), to prove the checks catch the lessons' own pitfalls.
//! Compiled into the binary next to exercises/ and solutions/ (src/main.rs);
//! never used unless that variable is set.

mod ch01_argv_without_name;
mod ch01_exec_error_exits;
mod ch01_exit_code_lost;
mod ch01_no_path_search;
mod ch01_signal_number;
mod ch01_stop_as_exit;
mod ch02_chdir_first;
mod ch02_chdir_rootfs;
mod ch02_chroot_dot;
mod ch02_no_chdir;
mod ch02_no_chroot;
mod ch03_hostname_fixed;
mod ch03_hostname_ignored;
mod ch03_no_namespaces;
mod ch03_no_newipc;
mod ch03_no_newuts;
mod ch04_no_forward;
mod ch04_no_newpid;
mod ch04_one_wait_per_sigchld;
mod ch04_proc_not_mounted;
mod ch04_wait_command_only;
mod ch05_no_chdir;
mod ch05_no_detach;
mod ch05_not_private;
mod ch05_private;
mod ch05_sys_writable;
mod ch06_address_on_lo;
mod ch06_fixed_address;
mod ch06_host_end_down;
mod ch06_lo_bridge_only;
mod ch06_lo_down;
mod ch06_no_default_route;
mod ch06_no_master;
mod ch06_no_newnet;
mod ch06_not_renamed;
mod ch06_peer_on_host;
mod ch06_prefix_24;
mod ch06_prefix_32;
mod ch06_route_first;
mod ch07_identity_map;
mod ch07_no_newuser;
mod ch07_no_setgroups_deny;
mod ch07_uid_map_only;
mod ch08_memory_in_mib;
mod ch08_oom_wrong_field;
mod ch08_period_assumed;
mod ch08_quota_first;
mod ch08_quota_truncated;
mod ch08_released_first;
mod ch08_rm_r;
mod ch08_rmdir_once;
mod ch08_subtree_bottom_up;
mod ch08_subtree_parent_only;
mod ch08_v1_one_hierarchy;
mod ch08_v2_todo;
mod ch09_always_bearer;
mod ch09_comma_split;
mod ch09_first_manifest;
mod ch09_keys_as_sent;
mod ch09_no_library;
mod ch09_no_scope;
mod ch09_tag_after_port;
mod ch09_variant_exact;
mod ch09_variant_ignored;
mod ch10_dotdot_accepted;
mod ch10_lowers_reversed;
mod ch10_no_userxattr;
mod ch10_not_volatile;
mod ch10_opaque_as_remove;
mod ch10_opaque_user_xattr;
mod ch10_wh_alone_accepted;
mod ch10_whiteout_as_file;
mod ch10_whiteout_in_cwd;
mod ch11_bounding_kept;
mod ch11_cgroupfs_writable;
mod ch11_mask_dirs_only;
mod ch11_ro_no_remount;
mod ch11_seccomp_nnp;
mod ch12_mnt_first;
mod ch12_no_cgroupns;
mod ch12_no_mnt;
mod ch12_no_pid;
mod ch12_status_kept;
mod ch13_missing_set_is_all;
mod ch13_no_newpid;
mod ch13_ro_as_data;
mod ch13_uts_forgotten;
mod ch14_host_ip_dropped;
mod ch14_length_le;
mod ch14_length_with_header;
mod ch14_ports_reversed;
mod ch14_stream_last;

use mini_docker::workshop::Steps;

/// The variable that selects a mutant (unset: none, the normal case).
pub const VARIABLE: &str = "MINI_DOCKER_MUTANT";

/// Swap in the mutant `MINI_DOCKER_MUTANT` names, if any. An unknown name
/// stops the program: a test must never run the unmutated code by mistake.
pub fn apply(mut steps: Steps) -> Steps {
    let Ok(name) = std::env::var(VARIABLE) else {
        return steps;
    };
    let (ch01, ch02, ch03, ch04) = (
        &mut steps.ch01_process,
        &mut steps.ch02_chroot,
        &mut steps.ch03_uts,
        &mut steps.ch04_pid,
    );
    let (ch05, ch06, ch07, ch08) = (
        &mut steps.ch05_mount,
        &mut steps.ch06_net,
        &mut steps.ch07_userns,
        &mut steps.ch08_cgroups,
    );
    let (ch09, ch10, ch11, ch12) = (
        &mut steps.ch09_pull,
        &mut steps.ch10_layers,
        &mut steps.ch11_hardening,
        &mut steps.ch12_lifecycle,
    );
    let ch13 = &mut steps.ch13_oci;
    let ch14 = &mut steps.ch14_daemon;
    match name.as_str() {
        "ch01_signal_number" => {
            ch01.exit_code = ch01_signal_number::exit_code;
            ch01.wait_for = ch01_signal_number::wait_for;
        }
        "ch01_exit_code_lost" => {
            ch01.exit_code = ch01_exit_code_lost::exit_code;
            ch01.wait_for = ch01_exit_code_lost::wait_for;
        }
        "ch01_exec_error_exits" => ch01.exec_command = ch01_exec_error_exits::exec_command,
        "ch01_argv_without_name" => ch01.exec_command = ch01_argv_without_name::exec_command,
        "ch01_no_path_search" => ch01.exec_command = ch01_no_path_search::exec_command,
        "ch01_stop_as_exit" => {
            ch01.exit_code = ch01_stop_as_exit::exit_code;
            ch01.wait_for = ch01_stop_as_exit::wait_for;
        }
        "ch02_chroot_dot" => ch02.enter_rootfs = ch02_chroot_dot::enter_rootfs,
        "ch02_chdir_rootfs" => ch02.enter_rootfs = ch02_chdir_rootfs::enter_rootfs,
        "ch02_no_chdir" => ch02.enter_rootfs = ch02_no_chdir::enter_rootfs,
        "ch02_chdir_first" => ch02.enter_rootfs = ch02_chdir_first::enter_rootfs,
        "ch02_no_chroot" => ch02.enter_rootfs = ch02_no_chroot::enter_rootfs,
        "ch03_no_newuts" => ch03.namespaces = ch03_no_newuts::namespaces,
        "ch03_no_newipc" => ch03.namespaces = ch03_no_newipc::namespaces,
        "ch03_no_namespaces" => ch03.namespaces = ch03_no_namespaces::namespaces,
        "ch03_hostname_ignored" => ch03.set_hostname = ch03_hostname_ignored::set_hostname,
        "ch03_hostname_fixed" => ch03.set_hostname = ch03_hostname_fixed::set_hostname,
        "ch04_no_newpid" => ch04.namespaces = ch04_no_newpid::namespaces,
        "ch04_proc_not_mounted" => ch04.mount_proc = ch04_proc_not_mounted::mount_proc,
        "ch04_one_wait_per_sigchld" => ch04.init_loop = ch04_one_wait_per_sigchld::init_loop,
        "ch04_wait_command_only" => ch04.init_loop = ch04_wait_command_only::init_loop,
        "ch04_no_forward" => ch04.init_loop = ch04_no_forward::init_loop,
        "ch05_private" => ch05.make_mounts_private = ch05_private::make_mounts_private,
        "ch05_not_private" => ch05.make_mounts_private = ch05_not_private::make_mounts_private,
        "ch05_no_chdir" => ch05.pivot_into = ch05_no_chdir::pivot_into,
        "ch05_no_detach" => ch05.pivot_into = ch05_no_detach::pivot_into,
        "ch05_sys_writable" => ch05.mount_sys = ch05_sys_writable::mount_sys,
        "ch06_no_newnet" => ch06.namespaces = ch06_no_newnet::namespaces,
        "ch06_no_master" => ch06.connect_to_bridge = ch06_no_master::connect_to_bridge,
        "ch06_host_end_down" => ch06.connect_to_bridge = ch06_host_end_down::connect_to_bridge,
        "ch06_lo_down" => ch06.configure_inside = ch06_lo_down::configure_inside,
        "ch06_route_first" => ch06.configure_inside = ch06_route_first::configure_inside,
        "ch06_address_on_lo" => ch06.configure_inside = ch06_address_on_lo::configure_inside,
        "ch06_fixed_address" => ch06.configure_inside = ch06_fixed_address::configure_inside,
        "ch06_peer_on_host" => ch06.connect_to_bridge = ch06_peer_on_host::connect_to_bridge,
        "ch06_not_renamed" => ch06.configure_inside = ch06_not_renamed::configure_inside,
        "ch06_prefix_32" => ch06.configure_inside = ch06_prefix_32::configure_inside,
        "ch06_prefix_24" => ch06.configure_inside = ch06_prefix_24::configure_inside,
        "ch06_no_default_route" => ch06.configure_inside = ch06_no_default_route::configure_inside,
        "ch06_lo_bridge_only" => ch06.configure_inside = ch06_lo_bridge_only::configure_inside,
        "ch07_no_newuser" => ch07.namespaces = ch07_no_newuser::namespaces,
        "ch07_no_setgroups_deny" => ch07.write_id_maps = ch07_no_setgroups_deny::write_id_maps,
        "ch07_uid_map_only" => ch07.write_id_maps = ch07_uid_map_only::write_id_maps,
        "ch07_identity_map" => ch07.write_id_maps = ch07_identity_map::write_id_maps,
        "ch08_v2_todo" => ch08.write_limits_v2 = ch08_v2_todo::write_limits_v2,
        "ch08_quota_truncated" => {
            ch08.write_limits_v1 = ch08_quota_truncated::write_limits_v1;
            ch08.write_limits_v2 = ch08_quota_truncated::write_limits_v2;
        }
        "ch08_quota_first" => ch08.write_limits_v1 = ch08_quota_first::write_limits_v1,
        "ch08_period_assumed" => {
            ch08.write_limits_v1 = ch08_period_assumed::write_limits_v1;
            ch08.write_limits_v2 = ch08_period_assumed::write_limits_v2;
        }
        "ch08_memory_in_mib" => {
            ch08.write_limits_v1 = ch08_memory_in_mib::write_limits_v1;
            ch08.write_limits_v2 = ch08_memory_in_mib::write_limits_v2;
        }
        "ch08_released_first" => {
            ch08.join_v1 = ch08_released_first::join_v1;
            ch08.join_v2 = ch08_released_first::join_v2;
        }
        "ch08_subtree_bottom_up" => ch08.create_v2 = ch08_subtree_bottom_up::create_v2,
        "ch08_subtree_parent_only" => ch08.create_v2 = ch08_subtree_parent_only::create_v2,
        "ch08_oom_wrong_field" => {
            ch08.oom_kills_v1 = ch08_oom_wrong_field::oom_kills_v1;
            ch08.oom_kills_v2 = ch08_oom_wrong_field::oom_kills_v2;
        }
        "ch08_rmdir_once" => {
            ch08.remove_v1 = ch08_rmdir_once::remove_v1;
            ch08.remove_v2 = ch08_rmdir_once::remove_v2;
        }
        "ch08_v1_one_hierarchy" => {
            ch08.create_v1 = ch08_v1_one_hierarchy::create_v1;
            ch08.join_v1 = ch08_v1_one_hierarchy::join_v1;
        }
        "ch08_rm_r" => {
            ch08.remove_v1 = ch08_rm_r::remove_v1;
            ch08.remove_v2 = ch08_rm_r::remove_v2;
        }
        "ch09_no_library" => ch09.parse_image_ref = ch09_no_library::parse_image_ref,
        "ch09_tag_after_port" => ch09.parse_image_ref = ch09_tag_after_port::parse_image_ref,
        "ch09_no_scope" => ch09.token_url = ch09_no_scope::token_url,
        "ch09_always_bearer" => ch09.authorize = ch09_always_bearer::authorize,
        "ch09_comma_split" => ch09.parse_challenge = ch09_comma_split::parse_challenge,
        "ch09_keys_as_sent" => ch09.parse_challenge = ch09_keys_as_sent::parse_challenge,
        "ch09_variant_ignored" => ch09.select_manifest = ch09_variant_ignored::select_manifest,
        "ch09_variant_exact" => ch09.select_manifest = ch09_variant_exact::select_manifest,
        "ch09_first_manifest" => ch09.select_manifest = ch09_first_manifest::select_manifest,
        "ch10_dotdot_accepted" => ch10.whiteout = ch10_dotdot_accepted::whiteout,
        "ch10_wh_alone_accepted" => ch10.whiteout = ch10_wh_alone_accepted::whiteout,
        "ch10_opaque_as_remove" => ch10.whiteout = ch10_opaque_as_remove::whiteout,
        "ch10_opaque_user_xattr" => ch10.apply_whiteout = ch10_opaque_user_xattr::apply_whiteout,
        "ch10_whiteout_as_file" => ch10.apply_whiteout = ch10_whiteout_as_file::apply_whiteout,
        "ch10_whiteout_in_cwd" => ch10.apply_whiteout = ch10_whiteout_in_cwd::apply_whiteout,
        "ch10_lowers_reversed" => ch10.mount_overlay = ch10_lowers_reversed::mount_overlay,
        "ch10_not_volatile" => ch10.mount_overlay = ch10_not_volatile::mount_overlay,
        "ch10_no_userxattr" => ch10.mount_overlay = ch10_no_userxattr::mount_overlay,
        "ch11_bounding_kept" => ch11.limit_capabilities = ch11_bounding_kept::limit_capabilities,
        "ch11_cgroupfs_writable" => {
            ch11.isolate_cgroupfs = ch11_cgroupfs_writable::isolate_cgroupfs
        }
        "ch11_mask_dirs_only" => ch11.mask_paths = ch11_mask_dirs_only::mask_paths,
        "ch11_ro_no_remount" => ch11.make_read_only = ch11_ro_no_remount::make_read_only,
        "ch11_seccomp_nnp" => ch11.load_seccomp = ch11_seccomp_nnp::load_seccomp,
        "ch12_mnt_first" => ch12.join_namespaces = ch12_mnt_first::join_namespaces,
        "ch12_no_pid" => ch12.join_namespaces = ch12_no_pid::join_namespaces,
        "ch12_no_cgroupns" => ch12.join_namespaces = ch12_no_cgroupns::join_namespaces,
        "ch12_no_mnt" => ch12.join_namespaces = ch12_no_mnt::join_namespaces,
        "ch12_status_kept" => ch12.record_exit = ch12_status_kept::record_exit,
        "ch13_no_newpid" => ch13.namespace_plan = ch13_no_newpid::namespace_plan,
        "ch13_uts_forgotten" => ch13.namespace_plan = ch13_uts_forgotten::namespace_plan,
        "ch13_ro_as_data" => ch13.mount_plan = ch13_ro_as_data::mount_plan,
        "ch13_missing_set_is_all" => {
            ch13.capability_sets = ch13_missing_set_is_all::capability_sets
        }
        "ch14_length_le" => ch14.frame_header = ch14_length_le::frame_header,
        "ch14_stream_last" => ch14.frame_header = ch14_stream_last::frame_header,
        "ch14_length_with_header" => ch14.frame_header = ch14_length_with_header::frame_header,
        "ch14_ports_reversed" => ch14.publish_flags = ch14_ports_reversed::publish_flags,
        "ch14_host_ip_dropped" => ch14.publish_flags = ch14_host_ip_dropped::publish_flags,
        other => {
            eprintln!("mini-docker: {VARIABLE}={other:?} names no mutant");
            std::process::exit(125);
        }
    }
    steps
}

/// Shared by the chapter 12 mutants that leave one namespace out: the
/// reference's order (user first, mnt last), all opened before any setns,
/// but `left_out` skipped.
fn join_all_but(container: nix::unistd::Pid, user: bool, left_out: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    let order = [
        ("user", nix::sched::CloneFlags::CLONE_NEWUSER),
        ("ipc", nix::sched::CloneFlags::CLONE_NEWIPC),
        ("uts", nix::sched::CloneFlags::CLONE_NEWUTS),
        ("net", nix::sched::CloneFlags::CLONE_NEWNET),
        ("pid", nix::sched::CloneFlags::CLONE_NEWPID),
        ("cgroup", nix::sched::CloneFlags::CLONE_NEWCGROUP),
        ("mnt", nix::sched::CloneFlags::CLONE_NEWNS),
    ];
    let mut opened = Vec::new();
    for (name, flag) in order {
        if (name == "user" && !user) || name == left_out {
            continue;
        }
        let path = format!("/proc/{container}/ns/{name}");
        opened.push((
            name,
            flag,
            std::fs::File::open(&path).with_context(|| format!("open {path}"))?,
        ));
    }
    for (name, flag, file) in &opened {
        nix::sched::setns(file, *flag).with_context(|| format!("setns({name})"))?;
    }
    Ok(())
}
